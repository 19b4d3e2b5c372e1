# channel-mattermost: a Mattermost bot over the REST API v4 and the
# WebSocket API (README.md), on the library's WebSocket and HTTP clients
# (ad_ws, ad_http over ad_conn, OpenSSL), no libcurl.  --as-needed: it
# links only the libraries it calls (PSS per adapter).
PROGS			+= channel-mattermost
channel-mattermost_SRCS	:= $(wildcard services/channels/adapters/mattermost/*.c) \
			   $(ADAPTER_LIB_SRCS)
channel-mattermost_LIBS	:= -Wl,--as-needed
