# channel-telegram: a Telegram bot over the Bot API (README.md), on the
# library's HTTP client (ad_http over ad_conn, OpenSSL), no libcurl.
# --as-needed: it links only the libraries it calls (PSS per adapter).
PROGS			+= channel-telegram
channel-telegram_SRCS	:= $(wildcard services/channels/adapters/telegram/*.c) \
			   $(ADAPTER_LIB_SRCS)
channel-telegram_LIBS	:= -Wl,--as-needed
