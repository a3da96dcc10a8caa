"""HTTPS (SPEC 9): with tls_cert_file and tls_key_file set the listener
speaks TLS 1.2/1.3 only; SIGHUP re-reads the certificate and key; a
certificate that cannot be loaded stops the server at start with a clear
message.  Certificates are made for each run with the openssl command."""

import http.client
import json
import os
import shutil
import signal
import socket
import ssl
import subprocess
import tempfile
import unittest

from harness import BATCHD_BIN, Server, ServerError, make_tls_cert

MiB = 1024 * 1024


def der_of(pem_path):
    with open(pem_path) as f:
        return ssl.PEM_cert_to_DER_cert(f.read())


class TLSTest(unittest.TestCase):
    @classmethod
    def setUpClass(cls):
        cls.dir = tempfile.mkdtemp(prefix="batchd-tls-")
        cls.cert, cls.key = make_tls_cert(cls.dir, "a")
        cls.cert2, cls.key2 = make_tls_cert(cls.dir, "b")

    @classmethod
    def tearDownClass(cls):
        shutil.rmtree(cls.dir, ignore_errors=True)

    def ctx(self, cafile):
        c = ssl.create_default_context(cafile=cafile)
        return c

    def https(self, srv, method, path, body=None, cafile=None):
        c = http.client.HTTPSConnection("127.0.0.1", srv.port, timeout=30,
                                        context=self.ctx(cafile or self.cert))
        try:
            data = json.dumps(body).encode() if body is not None else None
            c.request(method, path, body=data,
                      headers={"Content-Type": "application/json"})
            r = c.getresponse()
            raw = r.read()
            peer = c.sock.getpeercert(binary_form=True)
            version = c.sock.version()
            return r.status, raw, peer, version
        finally:
            c.close()

    def server(self, cert=None, key=None, **kw):
        return Server(workers=2, tls_cert_file=cert or self.cert,
                      tls_key_file=key or self.key, **kw)

    def test_requests_and_batches_over_tls(self):
        with self.server() as srv:
            st, raw, peer, version = self.https(
                srv, "PUT", "/v1/workspaces/ws/tables/t/rows/k", {"v": 1})
            self.assertEqual(st, 201, raw)
            self.assertIn(version, ("TLSv1.2", "TLSv1.3"))
            self.assertEqual(peer, der_of(self.cert))
            st, raw, _, _ = self.https(srv, "GET",
                                       "/v1/workspaces/ws/tables/t/rows/k")
            self.assertEqual((st, json.loads(raw)), (200, {"v": 1}))
            # A large answer (streamed, chunked) and a large body.
            big = {"d": "x" * (MiB - 16)}
            st, raw, _, _ = self.https(
                srv, "PUT", "/v1/workspaces/ws/tables/t/rows/big", big)
            self.assertEqual(st, 201, raw[:200])
            st, raw, _, _ = self.https(srv, "POST", "/v1/$batch", {
                "requests": [{"id": str(i), "url":
                              "/workspaces/ws/tables/t/rows/big"}
                             for i in range(8)]})
            self.assertEqual(st, 200)
            got = json.loads(raw)["responses"]
            self.assertEqual([r["id"] for r in got],
                             [str(i) for i in range(8)])
            self.assertTrue(all(r["status"] == 200 and r["body"] == big
                                for r in got))

    def test_keep_alive_and_pipelining_over_tls(self):
        with self.server() as srv:
            raw = socket.create_connection(("127.0.0.1", srv.port), 10)
            s = self.ctx(self.cert).wrap_socket(raw,
                                                server_hostname="127.0.0.1")
            try:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n" * 3)
                buf = b""
                s.settimeout(10)
                while buf.count(b"HTTP/1.1 200 ") < 3 or \
                        not buf.endswith(b"}"):
                    chunk = s.recv(65536)
                    if not chunk:
                        break
                    buf += chunk
                self.assertEqual(buf.count(b"HTTP/1.1 200 "), 3, buf[:500])
            finally:
                s.close()

    def test_plain_http_on_the_tls_port_gets_no_http_answer(self):
        with self.server() as srv:
            s = socket.create_connection(("127.0.0.1", srv.port), 10)
            try:
                s.sendall(b"GET /healthz HTTP/1.1\r\nHost: x\r\n\r\n")
                s.settimeout(10)
                data = b""
                try:
                    while True:
                        chunk = s.recv(4096)
                        if not chunk:
                            break
                        data += chunk
                except (ConnectionResetError, socket.timeout):
                    pass
                self.assertFalse(data.startswith(b"HTTP/"), data[:100])
            finally:
                s.close()
            # ... and the server is still well.
            st, _, _, _ = self.https(srv, "GET", "/healthz")
            self.assertEqual(st, 200)

    def test_tls_1_1_is_refused(self):
        with self.server() as srv:
            c = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
            c.load_verify_locations(self.cert)
            try:
                c.minimum_version = ssl.TLSVersion.TLSv1
                c.maximum_version = ssl.TLSVersion.TLSv1_1
                c.set_ciphers("DEFAULT:@SECLEVEL=0")
            except (ValueError, ssl.SSLError) as e:
                self.fail("this Python cannot offer TLS 1.1: %s" % e)
            raw = socket.create_connection(("127.0.0.1", srv.port), 10)
            with self.assertRaises(ssl.SSLError) as cm:
                s = c.wrap_socket(raw, server_hostname="127.0.0.1")
                s.close()
            raw.close()
            # The server's alert, not a client that could not offer 1.1.
            self.assertRegex(str(cm.exception),
                             "(?i)protocol.version|unsupported.protocol")
            self.assertNotIn("NO_PROTOCOLS_AVAILABLE", str(cm.exception))

    def test_bad_certificate_stops_the_start(self):
        junk = os.path.join(self.dir, "junk.crt")
        with open(junk, "w") as f:
            f.write("-----BEGIN CERTIFICATE-----\nnot a cert\n"
                    "-----END CERTIFICATE-----\n")
        cases = [
            (junk, self.key, "tls_cert_file"),
            (os.path.join(self.dir, "missing.crt"), self.key,
             "tls_cert_file"),
            (self.cert, os.path.join(self.dir, "missing.key"),
             "tls_key_file"),
            (self.cert, self.key2, "mismatch"),
        ]
        for cert, key, what in cases:
            with self.subTest(cert=cert, key=key):
                srv = self.server(cert=cert, key=key, ready_timeout=10)
                with self.assertRaises(ServerError):
                    srv.start()
                self.assertNotEqual(srv.exit_code, 0)
                self.assertIn(what, srv.log_text())

    def test_cert_without_key_is_a_config_error(self):
        d = tempfile.mkdtemp(prefix="batchd-tls-conf-")
        try:
            conf = os.path.join(d, "c.conf")
            with open(conf, "w") as f:
                f.write("tls_cert_file = %s\n" % self.cert)
            p = subprocess.run([os.path.abspath(BATCHD_BIN), "-t", "-c",
                                conf], capture_output=True, text=True,
                               timeout=30)
            self.assertNotEqual(p.returncode, 0)
            self.assertIn("tls_key_file", p.stderr + p.stdout)
        finally:
            shutil.rmtree(d, ignore_errors=True)

    def test_sighup_rereads_the_certificate(self):
        d = tempfile.mkdtemp(prefix="batchd-tls-live-")
        try:
            cert = os.path.join(d, "live.crt")
            key = os.path.join(d, "live.key")
            shutil.copy(self.cert, cert)
            shutil.copy(self.key, key)
            with self.server(cert=cert, key=key) as srv:
                _, _, peer, _ = self.https(srv, "GET", "/healthz")
                self.assertEqual(peer, der_of(self.cert))
                # A renewed certificate: new connections get it.
                shutil.copy(self.cert2, cert)
                shutil.copy(self.key2, key)
                n = len(srv.log_lines())
                os.kill(srv.proc.pid, signal.SIGHUP)
                srv.wait_for_log(r"certificate .* loaded", 10, start=n)
                st, _, peer, _ = self.https(srv, "GET", "/healthz",
                                            cafile=self.cert2)
                self.assertEqual((st, peer), (200, der_of(self.cert2)))
                # A broken one: the running certificate stays.
                with open(cert, "w") as f:
                    f.write("garbage\n")
                n = len(srv.log_lines())
                os.kill(srv.proc.pid, signal.SIGHUP)
                srv.wait_for_log(r"keeping the running certificate", 10,
                                 start=n)
                st, _, peer, _ = self.https(srv, "GET", "/healthz",
                                            cafile=self.cert2)
                self.assertEqual((st, peer), (200, der_of(self.cert2)))
        finally:
            shutil.rmtree(d, ignore_errors=True)


if __name__ == "__main__":
    unittest.main()
