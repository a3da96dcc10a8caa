"""Installing batchd (issue 14): "make install" with PREFIX and DESTDIR (a
DESTDIR with spaces too), the unit file as systemd-analyze sees it, and
"make deb": the package's files, control data and maintainer scripts as
dpkg-deb shows them, and lintian's verdict.

These drive the Makefile, not the server; the binary installed is the one
under test (SAN=1 installs bin/batchd-san).
"""

import os
import re
import shutil
import subprocess
import tempfile
import unittest

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
SAN = os.environ.get("SAN", "")


def make(*args, timeout=600):
    p = subprocess.run(["make", "--no-print-directory", "SAN=%s" % SAN]
                       + list(args), cwd=ROOT, stdout=subprocess.PIPE,
                       stderr=subprocess.STDOUT, timeout=timeout)
    return p.returncode, p.stdout.decode("utf-8", "replace")


def tree(root):
    """{relative path: mode} of every file under root."""
    out = {}
    for d, _, files in os.walk(root):
        for f in files:
            p = os.path.join(d, f)
            out[os.path.relpath(p, root)] = os.stat(p).st_mode & 0o7777
    return out


class Install(unittest.TestCase):

    def install(self, prefix, destdir):
        rc, out = make("install", "PREFIX=%s" % prefix, "DESTDIR=%s" % destdir)
        self.assertEqual(rc, 0, out)
        return tree(destdir)

    def test_prefix_usr_into_destdir_with_spaces(self):
        d = tempfile.mkdtemp(prefix="batchd bb install ")
        try:
            dest = os.path.join(d, "stage dir")
            got = self.install("/usr", dest)
            self.assertEqual(got, {
                "usr/sbin/batchd": 0o755,
                "etc/batchd/batchd.conf": 0o640,
                "etc/logrotate.d/batchd": 0o644,
                "lib/systemd/system/batchd.service": 0o644,
                "usr/share/man/man8/batchd.8": 0o644,
                "usr/share/man/man5/batchd.conf.5": 0o644,
                "usr/share/doc/batchd/openapi.yaml": 0o644,
            })
            conf = os.path.join(dest, "etc/batchd/batchd.conf")
            with open(conf) as f:
                text = f.read()
            self.assertIn("\ndb_path = /var/lib/batchd\n", text)
            # The installed binary accepts the installed configuration.
            p = subprocess.run([os.path.join(dest, "usr/sbin/batchd"), "-t",
                                "-c", conf], stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=30)
            self.assertEqual(p.returncode, 0, p.stdout)
            with open(os.path.join(
                    dest, "lib/systemd/system/batchd.service")) as f:
                unit = f.read()
            self.assertIn("\nExecStart=/usr/sbin/batchd -c "
                          "/etc/batchd/batchd.conf\n", unit)
            self.assertIn("\nReadWritePaths=/var/lib/batchd\n", unit)
            self.verify_unit(unit, os.path.join(dest, "usr/sbin/batchd"))
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_prefix_usr_local(self):
        d = tempfile.mkdtemp(prefix="batchd-bb-install-")
        try:
            got = self.install("/usr/local", d)
            self.assertEqual(set(got), {
                "usr/local/sbin/batchd", "usr/local/etc/batchd/batchd.conf",
                "usr/local/etc/logrotate.d/batchd",
                "usr/local/lib/systemd/system/batchd.service",
                "usr/local/share/man/man8/batchd.8",
                "usr/local/share/man/man5/batchd.conf.5",
                "usr/local/share/doc/batchd/openapi.yaml"})
            with open(os.path.join(
                    d, "usr/local/lib/systemd/system/batchd.service")) as f:
                unit = f.read()
            self.assertIn("\nExecStart=/usr/local/sbin/batchd -c "
                          "/usr/local/etc/batchd/batchd.conf\n", unit)
            self.assertIn("\nReadWritePaths=/usr/local/var/lib/batchd\n",
                          unit)
            with open(os.path.join(
                    d, "usr/local/etc/batchd/batchd.conf")) as f:
                self.assertIn("\ndb_path = /usr/local/var/lib/batchd\n",
                              f.read())
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def verify_unit(self, unit, binary):
        """systemd-analyze verify: no complaint at all (it exits 0 even on
        unknown keys, so its output must be empty).  ExecStart points at
        the staged binary, which verify wants to exist."""
        sa = shutil.which("systemd-analyze")
        self.assertIsNotNone(sa, "systemd-analyze missing "
                             "(scripts/install-deps installs systemd)")
        d = tempfile.mkdtemp(prefix="batchd-bb-unit-")
        try:
            path = os.path.join(d, "batchd.service")
            with open(path, "w") as f:
                f.write(unit.replace("ExecStart=/usr/sbin/batchd",
                                     'ExecStart="%s"' % binary))
            p = subprocess.run([sa, "verify", "--man=no", path],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=60)
            self.assertEqual((p.returncode, p.stdout.decode()), (0, ""))
            # The sandboxing is real: systemd rates the unit's exposure.
            p = subprocess.run([sa, "security", "--offline=yes", path],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=60)
            m = re.search(r"Overall exposure level for batchd\.service: "
                          r"([\d.]+)", p.stdout.decode())
            self.assertIsNotNone(m, p.stdout.decode()[-2000:])
            self.assertLessEqual(float(m.group(1)), 4.0, m.group(0))
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_unit_checks_work(self):
        """A unit with a misspelt key is caught by verify_unit."""
        with open(os.path.join(ROOT, "etc", "batchd.service")) as f:
            unit = f.read()
        with self.assertRaises(AssertionError):
            self.verify_unit(unit.replace("ProtectSystem=strict",
                                          "ProtectSystm=strict"),
                             "/bin/true")


class Deb(unittest.TestCase):

    def test_make_deb(self):
        d = tempfile.mkdtemp(prefix="batchd-bb-deb-")
        try:
            rc, out = make("deb", "DEBDIR=%s" % d)
            self.assertEqual(rc, 0, out)
            debs = [f for f in os.listdir(d) if f.endswith(".deb")]
            self.assertEqual(len(debs), 1, debs)
            deb = os.path.join(d, debs[0])
            self.assertRegex(debs[0], r"^batchd_\d+\.\d+\.\d+-1_\w+\.deb$")

            listing = subprocess.run(["dpkg-deb", "-c", deb],
                                     stdout=subprocess.PIPE, check=True,
                                     timeout=60).stdout.decode()
            files = {}
            for line in listing.splitlines():
                f = line.split()
                files[f[-1].lstrip(".")] = (f[0], f[1])
            for path, mode in (
                    ("/usr/sbin/batchd", "-rwxr-xr-x"),
                    ("/etc/batchd/batchd.conf", "-rw-r--r--"),
                    ("/etc/logrotate.d/batchd", "-rw-r--r--"),
                    ("/lib/systemd/system/batchd.service", "-rw-r--r--"),
                    ("/usr/share/man/man8/batchd.8.gz", "-rw-r--r--"),
                    ("/usr/share/man/man5/batchd.conf.5.gz", "-rw-r--r--"),
                    ("/usr/share/doc/batchd/copyright", "-rw-r--r--"),
                    ("/usr/share/doc/batchd/changelog.Debian.gz",
                     "-rw-r--r--")):
                self.assertIn(path, files, listing)
                self.assertEqual(files[path], (mode, "root/root"), path)

            def field(name):
                return subprocess.run(
                    ["dpkg-deb", "-f", deb, name], stdout=subprocess.PIPE,
                    check=True, timeout=60).stdout.decode().strip()
            self.assertEqual(field("Package"), "batchd")
            depends = field("Depends")
            for lib in ("adduser", "libevent-2.1", "libjson-c", "liblmdb",
                        "libsystemd0", "libssl"):
                self.assertIn(lib, depends)

            ctl = os.path.join(d, "control")
            subprocess.run(["dpkg-deb", "-e", deb, ctl], check=True,
                           timeout=60)
            with open(os.path.join(ctl, "conffiles")) as f:
                self.assertEqual(f.read().split(),
                                 ["/etc/batchd/batchd.conf",
                                  "/etc/logrotate.d/batchd"])
            with open(os.path.join(ctl, "postinst")) as f:
                postinst = f.read()
            self.assertRegex(postinst, r"adduser --system --group .*"
                             r"--home /var/lib/batchd")
            self.assertIn("/var/lib/batchd", postinst)
            for script in ("postinst", "prerm", "postrm"):
                p = subprocess.run(["sh", "-n", os.path.join(ctl, script)],
                                   stdout=subprocess.PIPE,
                                   stderr=subprocess.STDOUT, timeout=30)
                self.assertEqual(p.returncode, 0, p.stdout)
                self.assertTrue(os.access(os.path.join(ctl, script),
                                          os.X_OK))

            lintian = shutil.which("lintian")
            if lintian is None:
                self.skipTest("lintian not installable here")
            p = subprocess.run([lintian, "--tag-display-limit", "0", deb],
                               stdout=subprocess.PIPE,
                               stderr=subprocess.STDOUT, timeout=300)
            out = p.stdout.decode("utf-8", "replace")
            errors = [l for l in out.splitlines() if l.startswith("E:")]
            self.assertEqual(errors, [], out)
        finally:
            shutil.rmtree(d, ignore_errors=True)
