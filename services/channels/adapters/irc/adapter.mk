# channel-irc: the IRC adapter (README.md).  --as-needed: it links only
# the libraries it calls, not every one in $(LIBS) (PSS per adapter).
PROGS			+= channel-irc
channel-irc_SRCS	:= $(wildcard services/channels/adapters/irc/*.c) \
			   $(ADAPTER_LIB_SRCS)
channel-irc_LIBS	:= -Wl,--as-needed
