# channel-slack: a Slack app in Socket Mode with the Web API (README.md),
# on the library's WebSocket and HTTP clients (ad_ws, ad_http over
# ad_conn, OpenSSL), no libcurl.  --as-needed: it links only the
# libraries it calls (PSS per adapter).
PROGS			+= channel-slack
channel-slack_SRCS	:= $(wildcard services/channels/adapters/slack/*.c) \
			   $(ADAPTER_LIB_SRCS)
channel-slack_LIBS	:= -Wl,--as-needed
