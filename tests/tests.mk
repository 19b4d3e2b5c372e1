# Unit test binaries: tests/unit/t_<module>.c, each linked with libshared.
TEST_SRCS	:= $(wildcard tests/unit/t_*.c) $(wildcard tests/helpers/*.c)
TEST_PROGS	:= $(patsubst tests/unit/%.c,%,$(wildcard tests/unit/t_*.c)) \
		   $(patsubst tests/helpers/%.c,%,$(wildcard tests/helpers/*.c))
$(foreach t,$(TEST_PROGS),$(eval $(t)_SRCS := $(filter %/$(t).c,$(TEST_SRCS))))
TEST_BINS	:= $(addprefix $(BIN)/,$(TEST_PROGS))

# Tests and helpers of agent-runtime's modules link the service's archive
# (services/agent-runtime/service.mk): each takes the modules it uses.
AR_TESTS	:= t_catalog t_llm t_mcp t_session t_tool llmcall mcpcall toolrun \
		   uploadblocks
# The TOTP second factor (approval/totp.c; issue 12, part "totp").
AR_TESTS	+= t_totp totpgate
# Skills: the formats, the scan, the prompt section and its bench (skill/;
# issue 15).
AR_TESTS	+= t_skill skillbench
$(foreach t,$(AR_TESTS),$(eval $(t)_SRCS += $(AR_LIB)))
$(BUILD)/obj/tests/%.o: ALL_CFLAGS += -I$(AR_DIR)

# The same for the scheduler's modules (services/scheduler/service.mk).
SCH_TESTS	:= t_cron cronnext cronbench t_trigger t_workflow t_job
$(foreach t,$(SCH_TESTS),$(eval $(t)_SRCS += $(SCH_LIB)))
SCH_TEST_OBJS	:= $(patsubst %.c,$(BUILD)/obj/%.o,$(foreach t,$(SCH_TESTS),\
		   $(filter %/$(t).c,$(TEST_SRCS))))
$(SCH_TEST_OBJS): ALL_CFLAGS += -I$(SCH_DIR)

# The gateway's JWT check (services/api-gateway/gw_jwt.c).
t_jwt_SRCS	+= services/api-gateway/gw_jwt.c
$(BUILD)/obj/tests/unit/t_jwt.o: ALL_CFLAGS += -Iservices/api-gateway

# The channel adapters' library (services/channels/adapters/lib/adapter.mk).
t_adapter_SRCS	+= $(ADAPTER_LIB_SRCS)
$(BUILD)/obj/tests/unit/t_adapter.o: ALL_CFLAGS += -I$(ADAPTER_LIB_DIR)
t_ad_http_SRCS	+= $(ADAPTER_LIB_SRCS)
$(BUILD)/obj/tests/unit/t_ad_http.o: ALL_CFLAGS += -I$(ADAPTER_LIB_DIR)
t_ad_ws_SRCS	+= $(ADAPTER_LIB_SRCS)
$(BUILD)/obj/tests/unit/t_ad_ws.o: ALL_CFLAGS += -I$(ADAPTER_LIB_DIR)
t_irc_SRCS	+= services/channels/adapters/irc/irc_msg.c
$(BUILD)/obj/tests/unit/t_irc.o: ALL_CFLAGS += -Iservices/channels/adapters/irc
t_mqtt_SRCS	+= services/channels/adapters/mqtt/mqtt_msg.c $(ADAPTER_LIB_SRCS)
$(BUILD)/obj/tests/unit/t_mqtt.o: ALL_CFLAGS += -Iservices/channels/adapters/mqtt -I$(ADAPTER_LIB_DIR)
t_xmpp_SRCS	+= services/channels/adapters/xmpp/xmpp_msg.c
$(BUILD)/obj/tests/unit/t_xmpp.o: ALL_CFLAGS += -Iservices/channels/adapters/xmpp
# The channels service's protocol codec (services/channels/chan_proto.c).
t_sidecar_SRCS	+= services/channels/chan_proto.c services/channels/chan_stream.c \
		   services/channels/chan_conf.c
$(BUILD)/obj/tests/unit/t_sidecar.o: ALL_CFLAGS += -Iservices/channels
# Its policies and config.toml editing (chan_conf.c, chan_file.c).
t_chanconf_SRCS	+= services/channels/chan_conf.c services/channels/chan_file.c
$(BUILD)/obj/tests/unit/t_chanconf.o: ALL_CFLAGS += -Iservices/channels
# Approvals decided in a chat (chan_approve.c).
t_chatapprove_SRCS	+= services/channels/chan_approve.c \
		   services/channels/chan_proto.c services/channels/chan_stream.c \
		   services/channels/chan_conf.c
$(BUILD)/obj/tests/unit/t_chatapprove.o: ALL_CFLAGS += -Iservices/channels
t_email_SRCS	+= services/channels/adapters/email/email_mime.c \
		   $(ADAPTER_LIB_SRCS)
$(BUILD)/obj/tests/unit/t_email.o: ALL_CFLAGS += \
		   -Iservices/channels/adapters/email -I$(ADAPTER_LIB_DIR)
t_webhook_SRCS	+= services/channels/adapters/webhook/webhook_msg.c
$(BUILD)/obj/tests/unit/t_webhook.o: ALL_CFLAGS += -Iservices/channels/adapters/webhook
t_discord_SRCS	+= services/channels/adapters/discord/discord_msg.c \
		   $(ADAPTER_LIB_SRCS)
$(BUILD)/obj/tests/unit/t_discord.o: ALL_CFLAGS += \
		   -Iservices/channels/adapters/discord -I$(ADAPTER_LIB_DIR)
t_mattermost_SRCS	+= services/channels/adapters/mattermost/mattermost_msg.c \
		   $(ADAPTER_LIB_SRCS)
$(BUILD)/obj/tests/unit/t_mattermost.o: ALL_CFLAGS += \
		   -Iservices/channels/adapters/mattermost -I$(ADAPTER_LIB_DIR)
t_telegram_SRCS	+= services/channels/adapters/telegram/telegram_msg.c \
		   $(ADAPTER_LIB_SRCS)
$(BUILD)/obj/tests/unit/t_telegram.o: ALL_CFLAGS += \
		   -Iservices/channels/adapters/telegram -I$(ADAPTER_LIB_DIR)
t_slack_SRCS	+= services/channels/adapters/slack/slack_msg.c \
		   $(ADAPTER_LIB_SRCS)
$(BUILD)/obj/tests/unit/t_slack.o: ALL_CFLAGS += \
		   -Iservices/channels/adapters/slack -I$(ADAPTER_LIB_DIR)
t_matrix_SRCS	+= services/channels/adapters/matrix/matrix_msg.c \
		   $(ADAPTER_LIB_SRCS)
$(BUILD)/obj/tests/unit/t_matrix.o: ALL_CFLAGS += \
		   -Iservices/channels/adapters/matrix -I$(ADAPTER_LIB_DIR)
