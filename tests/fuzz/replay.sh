#!/bin/sh
# tests/fuzz/replay.sh DIR NAME...
#
# Replay tests/fuzz/corpus/NAME/* and tests/fuzz/regress/NAME/* through
# DIR/fuzz_NAME (a harness linked with replay.c), one process per harness;
# when one fails, replay its inputs one by one to name each that fails.
# Prints one closing summary line; exits non-zero if any input failed.
set -u
dir=$1
shift
total=0
failed=0
nh=0
err=$(mktemp)
trap 'rm -f "$err"' EXIT
for name in "$@"; do
	bin=$dir/fuzz_$name
	nh=$((nh + 1))
	paths=""
	for d in tests/fuzz/corpus/$name tests/fuzz/regress/$name; do
		[ -d "$d" ] && paths="$paths $d"
	done
	[ -z "$paths" ] && continue
	# shellcheck disable=SC2086
	if n=$(timeout 300 "$bin" $paths 2>"$err"); then
		total=$((total + n))
		continue
	fi
	for d in $paths; do
		for f in "$d"/*; do
			[ -f "$f" ] || continue
			timeout 60 "$bin" "$f" >/dev/null 2>"$err"
			rc=$?
			if [ "$rc" -eq 0 ]; then
				total=$((total + 1))
				continue
			fi
			failed=$((failed + 1))
			echo "FAILED: fuzz_$name $f (exit $rc)"
			grep -E 'check failed|ERROR: AddressSanitizer|runtime error|SUMMARY' \
			    "$err" | head -n 3 | sed 's/^/    /'
		done
	done
done
echo "fuzz-regress: $total inputs through $nh harnesses, $failed failed"
[ "$failed" -eq 0 ]
