# channel-webhook: the generic webhook adapter (README.md): its own small
# HTTP server in the library's poll loop, the callback over the library's
# ad_conn (OpenSSL), no libcurl or libmicrohttpd.  --as-needed: it links
# only the libraries it calls (PSS per adapter).
PROGS			+= channel-webhook
channel-webhook_SRCS	:= $(wildcard services/channels/adapters/webhook/*.c) \
			   $(ADAPTER_LIB_SRCS)
channel-webhook_LIBS	:= -Wl,--as-needed
