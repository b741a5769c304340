#!/bin/sh
# demo-writer.sh: the demo service of docker-compose.yml. It appends
# synthetic logs (vigil gen, the mixed scenario: benign traffic with every
# attack) to the files vigil tails in /var/log/demo, as applications writing
# their logs would.
#
# Each round covers the ten hours before now (gen's span), so the
# dashboards' default range shows data at once and the events arrive in time
# order; the next round comes when those ten hours have passed (INTERVAL,
# 36000 s by default), with a new seed, so that the windows tile without
# overlap and the rules see every event on time.
set -eu
out=/var/log/demo
interval=${INTERVAL:-36000}
lines=${LINES:-20000}
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT
seed=1
while :; do
	start=$(date -u -d "@$(($(date +%s) - 36000))" +%Y-%m-%dT%H:%M:%SZ)
	rm -rf "$tmp/round"
	vigil gen --scenario mixed --lines "$lines" --seed "$seed" --start "$start" --out "$tmp/round" >/dev/null
	for f in auth.log access.log helpdesk.json; do
		cat "$tmp/round/$f" >>"$out/$f"
	done
	echo "demo-writer: round $seed from $start: $(cat "$tmp/round/auth.log" "$tmp/round/access.log" "$tmp/round/helpdesk.json" | wc -l) lines"
	seed=$((seed + 1))
	sleep "$interval"
done
