# channel-discord: a Discord bot over Gateway v10 and the REST API
# (README.md), on the library's WebSocket and HTTP clients (ad_ws, ad_http
# over ad_conn, OpenSSL), no libcurl.  --as-needed: it links only the
# libraries it calls (PSS per adapter).
PROGS			+= channel-discord
channel-discord_SRCS	:= $(wildcard services/channels/adapters/discord/*.c) \
			   $(ADAPTER_LIB_SRCS)
channel-discord_LIBS	:= -Wl,--as-needed
