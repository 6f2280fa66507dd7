# Builds the libFuzzer targets of tests/fuzz with clang under
# AddressSanitizer and UndefinedBehaviorSanitizer, into $(BUILD) and
# apart from the gcc build of Makefile.am. tests/fuzz/run calls it from
# the top folder:
#
#   make -f tests/fuzz/fuzz.mk BUILD=build-fuzz
#
# The tern sources of libtern.a are taken from Makefile.am, so a file
# added there is fuzzed without an edit here. Each target lists the
# sources it needs from outside libtern.a.

CC = clang
BUILD = build-fuzz
PACKAGES = openssl libcares libuv libconfig sqlite3 opendkim libcurl libpsl \
	libargon2

SANITIZE = -fsanitize=address,undefined -fno-sanitize-recover=undefined
FUZZ_CFLAGS = -g -O1 -fno-omit-frame-pointer $(SANITIZE) \
	-Wall -Wextra -Wno-unused-parameter \
	$(shell pkg-config --cflags $(PACKAGES))
FUZZ_CPPFLAGS = -I. -DTERN_LIBEXECDIR='"/nonexistent/libexec"' \
	-DTERN_SYSCONFDIR='"/nonexistent/etc"'
FUZZ_LIBS = $(shell pkg-config --libs $(PACKAGES)) -lspf2

# The .c files of libtern_a_SOURCES in Makefile.am.
LIBTERN_SOURCES := $(shell awk '/^libtern_a_SOURCES =/ { on = 1 } \
	on { for (i = 1; i <= NF; i++) if ($$i ~ /\.c$$/) print $$i; \
	if ($$NF != "\\") on = 0 }' Makefile.am)

TARGETS = fuzz_smtp_command fuzz_smtp_data fuzz_smtp_reply \
	fuzz_local_message fuzz_spf_header fuzz_dmarc_record fuzz_mta_sts \
	fuzz_config fuzz_policy

# The SMTP AUTH server (RFC 4954) is fuzzed once auth/sasl_server.c is
# part of libtern.a.
TARGETS += $(if $(wildcard auth/sasl_server.c),fuzz_sasl_server)

fuzz_smtp_command_SOURCES = mta/smtp_command.c mta/smtp_dsn.c
fuzz_smtp_data_SOURCES = mta/smtp_data.c
fuzz_smtp_reply_SOURCES = mta/smtp_client_proto.c
# The file loaders read only inside a private folder: see fuzz_files.c.
fuzz_config_SOURCES = tests/fuzz/fuzz_files.c
fuzz_config_LDFLAGS = -Wl,--wrap=fopen
fuzz_policy_SOURCES = tests/fuzz/fuzz_files.c
fuzz_policy_LDFLAGS = -Wl,--wrap=fopen

all: $(addprefix $(BUILD)/,$(TARGETS))

# Library code gets coverage instrumentation without libFuzzer's main.
$(BUILD)/obj/%.o: %.c
	@mkdir -p $(dir $@)
	$(CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer-no-link $(FUZZ_CPPFLAGS) \
		-MMD -MP -c $< -o $@

$(BUILD)/libtern-fuzz.a: $(LIBTERN_SOURCES:%.c=$(BUILD)/obj/%.o)
	rm -f $@
	ar rcs $@ $^

# $(1): target name. Links the target's own file, its extra sources,
# libtern and the system libraries, plus $(1)_LDFLAGS.
define fuzz_target
$(BUILD)/$(1): $(BUILD)/obj/tests/fuzz/$(1).o \
		$($(1)_SOURCES:%.c=$(BUILD)/obj/%.o) $(BUILD)/libtern-fuzz.a
	$(CC) $(FUZZ_CFLAGS) -fsanitize=fuzzer $($(1)_LDFLAGS) -o $$@ $$^ \
		$(FUZZ_LIBS)
endef
$(foreach t,$(TARGETS),$(eval $(call fuzz_target,$(t))))

list:
	@echo $(TARGETS)

.PHONY: all list
-include $(shell find $(BUILD)/obj -name '*.d' 2>/dev/null)
