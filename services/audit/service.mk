# audit
PROGS		+= audit
audit_SQL	:= $(sort $(wildcard services/audit/sql/*.sql))
audit_SRCS	:= $(wildcard services/audit/*.c) $(BUILD)/gen/audit_sql.c
