# api-gateway (no database)
PROGS			+= api-gateway
api-gateway_SRCS	:= $(wildcard services/api-gateway/*.c)
