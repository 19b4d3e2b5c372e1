/*
 * llm_engine.c - the LLM engine (stub: replaced by the drivers work).
 */
#include <stdlib.h>
#include <string.h>

#include "err.h"
#include "llm.h"

struct llm_engine {
	int	e_unused;
};

struct llm_engine *
llm_engine_start(void)
{
	return (calloc(1, sizeof(struct llm_engine)));
}

void
llm_engine_stop(struct llm_engine *e)
{
	free(e);
}

long long
llm_engine_active(struct llm_engine *e)
{
	(void)e;
	return (0);
}

struct llm_call *
llm_start(struct llm_engine *e, json_t *request,
    const struct llm_target *targets, size_t ntargets, llm_event_fn ev,
    llm_done_fn done, void *arg)
{
	(void)e;
	(void)request;
	(void)targets;
	(void)ntargets;
	(void)ev;
	(void)done;
	(void)arg;
	return (NULL);
}

void
llm_cancel(struct llm_call *c)
{
	(void)c;
}

int
llm_style_parse(const char *name)
{
	static const char *const names[] = { "openai", "anthropic", "gemini",
	    "ollama" };
	size_t	i;

	for (i = 0; i < sizeof(names) / sizeof(names[0]); i++)
		if (strcmp(name, names[i]) == 0)
			return ((int)i);
	return (-1);
}

const char *
llm_style_name(enum llm_style s)
{
	switch (s) {
	case LLM_OPENAI:	return ("openai");
	case LLM_ANTHROPIC:	return ("anthropic");
	case LLM_GEMINI:	return ("gemini");
	case LLM_OLLAMA:	return ("ollama");
	}
	return ("unknown");
}
