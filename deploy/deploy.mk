# deploy: librefangd, the one-machine supervisor behind `make run`.
PROGS		+= librefangd
librefangd_SRCS	:= deploy/librefangd.c
