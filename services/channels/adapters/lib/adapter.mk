# The adapters' library (README.md): not a program; each adapter lists
# $(ADAPTER_LIB_SRCS) among its sources.
ADAPTER_LIB_DIR		:= services/channels/adapters/lib
ADAPTER_LIB_SRCS	:= $(wildcard $(ADAPTER_LIB_DIR)/*.c)
$(BUILD)/obj/services/channels/adapters/%.o: ALL_CFLAGS += -I$(ADAPTER_LIB_DIR)
