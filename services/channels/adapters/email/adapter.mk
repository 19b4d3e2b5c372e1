# channel-email: the email adapter (README.md): IMAP and SMTP on the
# library's ad_conn (OpenSSL), no libcurl.  --as-needed: it links only the
# libraries it calls (PSS per adapter).
PROGS			+= channel-email
channel-email_SRCS	:= $(wildcard services/channels/adapters/email/*.c) \
			   $(ADAPTER_LIB_SRCS)
channel-email_LIBS	:= -Wl,--as-needed
