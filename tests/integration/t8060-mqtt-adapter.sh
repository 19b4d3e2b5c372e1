#!/usr/bin/env bash
# channel-mqtt: the sidecar protocol's rules without a platform
# (tests/channels/adapter_conform.py, the checks every adapter passes),
# then against a real mosquitto (tests/channels/mqtt_drive.py, playing the
# daemon's side of the protocol and the platform's users with
# mosquitto_pub/mosquitto_sub): plain and JSON messages in, retained ones
# not answered, replies published at QoS 1 on the reply topic or the MQTT 5
# response topic with its correlation data, long replies split, the
# persistent session (a message sent while the adapter was stopped), the
# broker killed and restarted (reconnect, subscribe again, the queued
# reply published), MQTT 3.1.1, a refused password with backoff, TLS, the
# loopback switch, bad configurations.  No stack is started: the end to
# end through the channels service is t8091 (and t8094, its durability).
. "$(dirname "$0")/../lib.sh"

mqtt=$LF_BIN/channel-mqtt
if [ ! -x /usr/sbin/mosquitto ] || ! command -v mosquitto_pub >/dev/null 2>&1; then
	t_ok "mosquitto and mosquitto-clients are installed (deploy/deps.sh test)" false
	t_done
	exit 1
fi

# --describe: the fields the dashboard's form needs.
desc=$("$mqtt" --describe)
t_eq "--describe names the adapter" "$(printf '%s' "$desc" | jq -r .name)" mqtt
t_eq "--describe lists host, port, username, password, topics, reply topic, tls" \
    "$(printf '%s' "$desc" | jq -c '[.fields[].key | select(IN("MQTT_HOST",
	"MQTT_PORT", "MQTT_USERNAME", "MQTT_PASSWORD", "MQTT_TOPICS",
	"MQTT_REPLY_TOPIC", "MQTT_TLS"))]')" \
    '["MQTT_HOST","MQTT_PORT","MQTT_USERNAME","MQTT_PASSWORD","MQTT_TOPICS","MQTT_REPLY_TOPIC","MQTT_TLS"]'
t_eq "--describe: the password is a secret, the topics a list" \
    "$(printf '%s' "$desc" | jq -c '[.fields[] | select(.key == "MQTT_PASSWORD" or .key == "MQTT_TOPICS") | .type]')" \
    '["secret","list"]'

# The protocol alone: a broker port where nothing listens.
t_py adapter_conform.py 10 python3 "$LF_ROOT/tests/channels/adapter_conform.py" \
    "$mqtt" "$LF_TMP/log/mqtt-conform.log" MQTT_HOST=127.0.0.1 \
    MQTT_PORT="$(lf_free_port)" MQTT_ALLOW_LOOPBACK=1

# Against mosquitto.  The adapters' and the brokers' logs go to
# log/mqtt-*.log, where lf_cleanup looks for sanitizer reports.
mkdir -p "$LF_TMP/mqtt"
t_py mqtt_drive.py 24 python3 "$LF_ROOT/tests/channels/mqtt_drive.py" "$mqtt" \
    "$LF_TMP/mqtt" "$LF_TMP/log"
lf_tail_failed "mqtt-*.log"
t_done
