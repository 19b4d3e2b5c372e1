# bus: the broker.
PROGS		+= bus
bus_SRCS	:= $(wildcard services/bus/*.c)
