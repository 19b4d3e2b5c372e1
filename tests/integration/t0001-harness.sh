#!/usr/bin/env bash
# The harness itself: lf_sanitizer_ours, which decides whether a log's
# sanitizer report fails a test.  A report of ours must always count; only
# nng 1.5.2's own leaks at close or at a lost peer (lib.sh says which) may
# be set aside.  No stack is started.
. "$(dirname "$0")/../lib.sh"

san() {	# san NAME: writes $LF_TMP/NAME.log from stdin; prints 1 if ours
	cat >"$LF_TMP/$1.log"
	if lf_sanitizer_ours "$LF_TMP/$1.log" >/dev/null; then echo 1; else echo 0; fi
}
HDR='==1==ERROR: LeakSanitizer: detected memory leaks'
M0='    #0 0x7f in __interceptor_malloc ../../../../src/libsanitizer/asan/asan_malloc_linux.cpp:69'
NNG='(/lib/x86_64-linux-gnu/libnng.so.1+0x3d833)'

t_eq "no report: not ours" "$(printf 'info: started\n' | san none)" 0
t_eq "an AddressSanitizer error always counts" "$(printf '==1==ERROR: AddressSanitizer: heap-use-after-free\n    #1 0x1 %s\n' "$NNG" | san uaf)" 1
t_eq "a UBSan runtime error always counts" "$(printf 'libshared/msg.c:10:5: runtime error: signed integer overflow\n' | san ub)" 1
t_eq "a direct leak our code allocated counts" "$(printf '%s\nDirect leak of 64 byte(s) in 1 object(s) allocated from:\n%s\n    #1 0x55 in util_strdup libshared/util.c:10\n    #2 0x55 in broker_recv_cb services/bus/broker.c:300\n' "$HDR" "$M0" | san direct)" 1
t_eq "two messages leaked from one stack of ours count" "$(printf '%s\nDirect leak of 224 byte(s) in 2 object(s) allocated from:\n%s\n    #1 0x55 %s\n    #2 0x55 in bus_back_msg libshared/bus.c:761\n' "$HDR" "$M0" "$NNG" | san two_msgs)" 1
t_eq "one message nng dropped at a lost peer does not" "$(printf '%s\nDirect leak of 112 byte(s) in 1 object(s) allocated from:\n%s\n    #1 0x55 %s\n    #2 0x55 in bus_back_msg libshared/bus.c:761\nIndirect leak of 923 byte(s) in 1 object(s) allocated from:\n%s\n    #1 0x55 %s\n    #2 0x55 %s\n' "$HDR" "$M0" "$NNG" "$M0" "$NNG" "$NNG" | san one_msg)" 0
t_eq "an indirect leak our code allocated counts" "$(printf '%s\nIndirect leak of 64 byte(s) in 1 object(s) allocated from:\n%s\n    #1 0x55 in util_strdup libshared/util.c:10\n    #2 0x55 in broker_open services/bus/broker.c:700\n' "$HDR" "$M0" | san indirect_ours)" 1
t_eq "a leak wholly inside libnng's threads does not" "$(printf '%s\nDirect leak of 64 byte(s) in 1 object(s) allocated from:\n%s\n    #1 0x55 %s\n    #2 0x55 in start_thread nptl/pthread_create.c:442\n' "$HDR" "$M0" "$NNG" | san nng_only)" 0
t_eq "nor an indirect leak libnng allocated under our nng_listen()" "$(printf '%s\nIndirect leak of 464 byte(s) in 1 object(s) allocated from:\n%s\n    #1 0x55 %s\n    #4 0x55 in nng_listen %s\n    #5 0x55 in broker_listen services/bus/broker.c:688\n' "$HDR" "$M0" "$NNG" "$NNG" | san nng_listen)" 0
t_eq "but one of ours among nng's still counts" "$(printf '%s\nIndirect leak of 464 byte(s) in 1 object(s) allocated from:\n%s\n    #1 0x55 %s\n    #5 0x55 in broker_listen services/bus/broker.c:688\nDirect leak of 8 byte(s) in 1 object(s) allocated from:\n%s\n    #1 0x55 in broker_req_new services/bus/broker.c:200\n' "$HDR" "$M0" "$NNG" "$M0" | san mixed)" 1
t_done
