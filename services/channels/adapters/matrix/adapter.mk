# channel-matrix: a Matrix bot over the client-server API (README.md), on
# the library's HTTP client (ad_http over ad_conn, OpenSSL), no libcurl.
# --as-needed: it links only the libraries it calls (PSS per adapter).
PROGS			+= channel-matrix
channel-matrix_SRCS	:= $(wildcard services/channels/adapters/matrix/*.c) \
			   $(ADAPTER_LIB_SRCS)
channel-matrix_LIBS	:= -Wl,--as-needed
