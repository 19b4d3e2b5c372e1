# channel-mqtt: the MQTT adapter (README.md), on libmosquitto.
# --as-needed: it links only the libraries it calls (PSS per adapter).
PROGS			+= channel-mqtt
channel-mqtt_SRCS	:= $(wildcard services/channels/adapters/mqtt/*.c) \
			   $(ADAPTER_LIB_SRCS)
channel-mqtt_LIBS	:= -Wl,--as-needed -lmosquitto
