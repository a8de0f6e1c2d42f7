#!/bin/bash
# Starts an ActiveMQ 5.17 broker (Debian's activemq package) with STOMP on
# ${STOMP_LISTEN:-127.0.0.1:61613}, its files under ${ACTIVEMQ_DIR:-/var/tmp/sensorhub-activemq},
# and waits until it accepts connections. Used by scripts/test.sh; usable by hand.
set -eu
here=$(cd "$(dirname "$0")/.." && pwd)
dir=${ACTIVEMQ_DIR:-/var/tmp/sensorhub-activemq}
listen=${STOMP_LISTEN:-127.0.0.1:61613}
host=${listen%:*}
port=${listen##*:}

if [ ! -f /usr/share/activemq/bin/activemq.jar ]; then
	echo "activemq.sh: installing Debian's activemq package"
	DEBIAN_FRONTEND=noninteractive apt-get install -y activemq >/dev/null
fi
# A broker this script started before is started afresh: a test run that
# was killed halfway can leave it holding subscriptions that it no longer
# answers for. Anything else listening there is used as it is.
if [ -f "$dir/activemq.pid" ] && grep -q activemq.jar "/proc/$(cat "$dir/activemq.pid")/cmdline" 2>/dev/null; then
	echo "activemq.sh: restarting the broker it started before (pid $(cat "$dir/activemq.pid"))"
	kill "$(cat "$dir/activemq.pid")"
	for i in $(seq 1 60); do
		kill -0 "$(cat "$dir/activemq.pid")" 2>/dev/null || break
		sleep 0.5
	done
	kill -9 "$(cat "$dir/activemq.pid")" 2>/dev/null || true
fi
if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
	echo "activemq.sh: something already listens on $listen"
	exit 0
fi
mkdir -p "$dir/conf" "$dir/data" "$dir/lib"
# XStream and Jettison turn the statistics plugin's map replies into JSON
# for STOMP clients (transformation jms-map-json); Debian ships them apart.
for jar in xstream jettison xpp3; do
	ln -sf "/usr/share/java/$jar.jar" "$dir/lib/$jar.jar"
done
cp "$here/deploy/activemq/activemq.xml" "$dir/conf/activemq.xml"
cd "$dir"
nohup java -Xms128M -Xmx512M \
	--add-reads=java.xml=java.logging \
	--add-opens java.base/java.security=ALL-UNNAMED \
	--add-opens java.base/java.net=ALL-UNNAMED \
	--add-opens java.base/java.lang=ALL-UNNAMED \
	--add-opens java.base/java.util=ALL-UNNAMED \
	--add-opens java.naming/javax.naming.spi=ALL-UNNAMED \
	--add-opens java.rmi/sun.rmi.transport.tcp=ALL-UNNAMED \
	--add-opens java.base/java.util.concurrent=ALL-UNNAMED \
	--add-opens java.base/java.util.concurrent.atomic=ALL-UNNAMED \
	-Dactivemq.home=/usr/share/activemq -Dactivemq.base="$dir" -Dactivemq.conf="$dir/conf" \
	-Dactivemq.data="$dir/data" -Dstomp.listen="$listen" \
	-jar /usr/share/activemq/bin/activemq.jar start "xbean:file:$dir/conf/activemq.xml" \
	>"$dir/activemq.log" 2>&1 &
echo $! >"$dir/activemq.pid"
for i in $(seq 1 120); do
	if (exec 3<>"/dev/tcp/$host/$port") 2>/dev/null; then
		echo "activemq.sh: ActiveMQ listens on stomp://$listen (log $dir/activemq.log)"
		exit 0
	fi
	if ! kill -0 "$(cat "$dir/activemq.pid")" 2>/dev/null; then
		echo "activemq.sh: ActiveMQ exited; its log:" >&2
		tail -50 "$dir/activemq.log" >&2
		exit 1
	fi
	sleep 0.5
done
echo "activemq.sh: ActiveMQ did not listen on $listen after 60s; its log:" >&2
tail -50 "$dir/activemq.log" >&2
exit 1
