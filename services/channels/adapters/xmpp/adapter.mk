# channel-xmpp: the XMPP adapter (README.md), on libstrophe.  --as-needed:
# it links only the libraries it calls, not every one in $(LIBS) (PSS per
# adapter).
PROGS			+= channel-xmpp
channel-xmpp_SRCS	:= $(wildcard services/channels/adapters/xmpp/*.c) \
			   $(ADAPTER_LIB_SRCS)
channel-xmpp_LIBS	:= -Wl,--as-needed -lstrophe
