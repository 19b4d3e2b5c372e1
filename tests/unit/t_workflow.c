/*
 * t_workflow.c - the pure pieces of workflows (services/scheduler/
 * workflow/def.c): a definition made canonical or refused with its
 * reason, the agent check, the GET view, template expansion (1.3),
 * conditions (1.2) and the variables a run's input seeds.
 */
#include <stdlib.h>
#include <string.h>

#include <jansson.h>

#include "tap.h"
#include "workflow/workflow.h"

static json_t *
J(const char *s)
{
	json_error_t	 e;
	json_t		*v = json_loads(s, JSON_DECODE_ANY, &e);

	if (v == NULL)
		printf("# bad fixture: %s: %s\n", e.text, s);
	return (v);
}

/* The compact JSON of v (static), "(null)" for NULL; frees v. */
static const char *
S(json_t *v)
{
	static char	 out[8192];
	char		*s;

	if (v == NULL)
		return ("(null)");
	s = json_dumps(v, JSON_COMPACT | JSON_ENCODE_ANY | JSON_SORT_KEYS);
	snprintf(out, sizeof(out), "%s", s != NULL ? s : "(nomem)");
	free(s);
	json_decref(v);
	return (out);
}

/* Parses body; returns the canonical JSON, or "400: <reason>". */
static const char *
P(const char *body)
{
	static char	 out[8192];
	json_t		*b = J(body), *def;
	char		 err[1024];

	def = wf_def_parse(b, err, sizeof(err));
	json_decref(b);
	if (def == NULL) {
		snprintf(out, sizeof(out), "400: %s", err);
		return (out);
	}
	return (S(def));
}

static int
t_defaults(void)
{
	T_EQ_STR(P("{\"steps\":[{\"agent_name\":\"a\"}]}"),
	    "{\"description\":\"\",\"name\":\"unnamed\",\"steps\":[{"
	    "\"agent_name\":\"a\",\"error_mode\":\"fail\",\"mode\":"
	    "\"sequential\",\"name\":\"step\",\"prompt_template\":"
	    "\"{{input}}\",\"timeout_secs\":120}]}");
	return (0);
}

static int
t_shapes(void)
{
	/* Flat and tagged forms of mode and error_mode come out flat. */
	T_EQ_STR(P("{\"name\":\"w\",\"total_timeout_secs\":60,\"steps\":[{"
	    "\"name\":\"l\",\"agent\":{\"name\":\"x\"},\"prompt\":\"p\","
	    "\"mode\":{\"loop\":{\"max_iterations\":3,\"until\":\"ok\"}},"
	    "\"error_mode\":{\"retry\":{\"max_retries\":2,\"backoff_ms\":5}},"
	    "\"output_var\":\"v\"}]}"),
	    "{\"description\":\"\",\"name\":\"w\",\"steps\":[{\"agent_name\":"
	    "\"x\",\"backoff_ms\":5,\"error_mode\":\"retry\","
	    "\"max_iterations\":3,\"max_retries\":2,\"mode\":\"loop\","
	    "\"name\":\"l\",\"output_var\":\"v\",\"prompt_template\":\"p\","
	    "\"timeout_secs\":120,\"until\":\"ok\"}],"
	    "\"total_timeout_secs\":60}");
	T_EQ_STR(P("{\"steps\":[{\"agent\":\"x\",\"mode\":\"conditional\","
	    "\"condition\":\"yes\",\"error_mode\":\"retry\"}]}"),
	    "{\"description\":\"\",\"name\":\"unnamed\",\"steps\":[{"
	    "\"agent_name\":\"x\",\"condition\":\"yes\",\"error_mode\":"
	    "\"retry\",\"max_retries\":3,\"mode\":\"conditional\",\"name\":"
	    "\"step\",\"prompt_template\":\"{{input}}\",\"timeout_secs\":"
	    "120}]}");
	/* collect needs no agent. */
	T_OK(strncmp(P("{\"steps\":[{\"mode\":\"collect\"}]}"), "400",
	    3) != 0);
	return (0);
}

static int
t_refused(void)
{
	static const struct {
		const char	*body;
		const char	*why;
	} cases[] = {
		{ "[]", "the body must be a JSON object" },
		{ "{}", "Missing 'steps' array" },
		{ "{\"steps\":{}}", "Missing 'steps' array" },
		{ "{\"steps\":[]}", "at least one step" },
		{ "{\"steps\":[{}]}", "agent_id or agent_name is required" },
		{ "{\"steps\":[{\"agent_id\":\"x\"}]}", "is not a UUID" },
		{ "{\"steps\":[{\"agent_id\":\"00000000-0000-4000-8000-"
		    "000000000000\",\"agent_name\":\"a\"}]}", "not both" },
		{ "{\"steps\":[{\"agent_name\":\"a\",\"mode\":\"warp\"}]}",
		    "unknown mode 'warp'" },
		{ "{\"steps\":[{\"agent_name\":\"a\",\"mode\":\"loop\","
		    "\"max_iterations\":1001}]}", "max_iterations" },
		{ "{\"steps\":[{\"agent_name\":\"a\",\"mode\":\"loop\","
		    "\"max_iterations\":-1}]}", "max_iterations" },
		{ "{\"steps\":[{\"agent_name\":\"a\",\"timeout_secs\":0}]}",
		    "timeout_secs" },
		{ "{\"steps\":[{\"agent_name\":\"a\",\"timeout_secs\":"
		    "99999999999}]}", "timeout_secs" },
		{ "{\"steps\":[{\"agent_name\":\"a\",\"timeout_secs\":1.5}]}",
		    "timeout_secs" },
		{ "{\"steps\":[{\"agent_name\":\"a\",\"error_mode\":\"retry\","
		    "\"max_retries\":101}]}", "max_retries" },
		{ "{\"steps\":[{\"agent_name\":\"a\",\"error_mode\":\"retry\","
		    "\"backoff_ms\":3600000}]}", "backoff_ms" },
		{ "{\"steps\":[{\"agent_name\":\"a\",\"error_mode\":\"ask\"}]}",
		    "unknown error_mode" },
		{ "{\"steps\":[{\"agent_name\":\"a\",\"mode\":"
		    "\"conditional\"}]}", "needs a condition" },
		{ "{\"steps\":[{\"agent_name\":\"a\",\"output_var\":"
		    "\"input\"}]}", "output_var" },
		{ "{\"steps\":[{\"agent_name\":\"a\",\"output_var\":"
		    "\"a b\"}]}", "output_var" },
		{ "{\"steps\":[{\"agent_name\":\"a\",\"depends_on\":"
		    "[\"x\"]}]}", "unknown dependency 'x'" },
		{ "{\"steps\":[{\"agent_name\":\"a\",\"depends_on\":"
		    "\"x\"}]}", "depends_on must be an array" },
		{ "{\"steps\":[{\"name\":\"a\",\"agent_name\":\"a\","
		    "\"depends_on\":[\"b\"]},{\"name\":\"b\",\"agent_name\":"
		    "\"a\",\"depends_on\":[\"a\"]}]}", "Cycle detected" },
		{ "{\"steps\":[{\"name\":\"a\",\"agent_name\":\"a\","
		    "\"depends_on\":[\"a\"]}]}", "Cycle detected" },
		{ "{\"steps\":[{\"name\":\"a\",\"agent_name\":\"a\"},"
		    "{\"name\":\"a\",\"agent_name\":\"a\",\"depends_on\":"
		    "[\"a\"]}]}", "duplicate step name" },
		{ "{\"steps\":[{\"name\":\"a\",\"agent_name\":\"a\","
		    "\"mode\":\"fan_out\"},{\"name\":\"b\",\"agent_name\":"
		    "\"a\",\"depends_on\":[\"a\"]}]}",
		    "cannot be combined with depends_on" },
		{ "{\"steps\":[{\"agent_name\":\"a\",\"session_mode\":"
		    "\"fresh\"}]}", "session_mode" },
		{ "{\"total_timeout_secs\":0,\"steps\":[{\"agent_name\":"
		    "\"a\"}]}", "total_timeout_secs" },
		{ "{\"name\":5,\"steps\":[{\"agent_name\":\"a\"}]}", "name" },
		{ "{\"steps\":[{\"name\":\"\",\"agent_name\":\"a\"}]}",
		    "step '#1': name" },
	};
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
		const char *got = P(cases[i].body);

		if (strncmp(got, "400: ", 5) != 0 ||
		    strstr(got, cases[i].why) == NULL) {
			printf("# %s: got %s, wanted a 400 with '%s'\n",
			    cases[i].body, got, cases[i].why);
			return (-1);
		}
	}
	return (0);
}

static int
t_dag(void)
{
	json_t	*b = J("{\"steps\":["
		    "{\"name\":\"d\",\"agent_name\":\"x\",\"depends_on\":"
		    "[\"b\",\"c\"]},"
		    "{\"name\":\"a\",\"agent_name\":\"x\",\"depends_on\":[]},"
		    "{\"name\":\"b\",\"agent_name\":\"x\",\"depends_on\":"
		    "[\"a\"]},"
		    "{\"name\":\"c\",\"agent_name\":\"x\"}]}");
	json_t	*def;
	int	 layer[4];
	char	 err[256];

	def = wf_def_parse(b, err, sizeof(err));
	T_OK(def != NULL);
	T_EQ_INT(wf_is_dag(json_object_get(def, "steps")), 1);
	T_EQ_INT(wf_dag_layers(json_object_get(def, "steps"), layer, err,
	    sizeof(err)), 3);
	T_EQ_INT(layer[0], 2);
	T_EQ_INT(layer[1], 0);
	T_EQ_INT(layer[2], 1);
	T_EQ_INT(layer[3], 0);
	/* An empty depends_on is not kept: such a step is no DAG. */
	T_OK(json_object_get(json_array_get(json_object_get(def, "steps"),
	    1), "depends_on") == NULL);
	json_decref(def);
	json_decref(b);
	b = J("{\"steps\":[{\"agent_name\":\"x\",\"depends_on\":[]}]}");
	def = wf_def_parse(b, err, sizeof(err));
	T_OK(def != NULL);
	T_EQ_INT(wf_is_dag(json_object_get(def, "steps")), 0);
	json_decref(def);
	json_decref(b);
	return (0);
}

static int
t_agents(void)
{
	json_t	*b = J("{\"steps\":[{\"name\":\"s1\",\"agent_name\":\"a\"},"
		    "{\"mode\":\"collect\"},{\"name\":\"s3\",\"agent_id\":"
		    "\"00000000-0000-4000-8000-00000000000A\"}]}");
	json_t	*ok = J("[{\"id\":\"00000000-0000-4000-8000-00000000000a\","
		    "\"name\":\"b\"},{\"id\":\"x\",\"name\":\"a\"}]");
	json_t	*miss = J("[{\"id\":\"y\",\"name\":\"a\"}]");
	json_t	*def;
	char	 err[256];
	int	 rc;

	def = wf_def_parse(b, err, sizeof(err));
	T_OK(def != NULL);
	T_EQ_INT(wf_def_check_agents(def, ok, err, sizeof(err)), 0);
	rc = wf_def_check_agents(def, miss, err, sizeof(err));
	T_EQ_INT(rc, -1);
	T_EQ_STR(err, "invalid workflow: step 's3': agent "
	    "'00000000-0000-4000-8000-00000000000A' not found");
	json_decref(def);
	json_decref(b);
	json_decref(ok);
	json_decref(miss);
	return (0);
}

static int
t_view(void)
{
	json_t	*def = J("{\"name\":\"w\",\"steps\":[{\"name\":\"s\","
		    "\"agent_name\":\"a\"},{\"name\":\"c\",\"mode\":"
		    "\"collect\"}]}");

	T_EQ_STR(S(wf_def_view("id1", def, "2026-01-01T00:00:00Z")),
	    "{\"created_at\":\"2026-01-01T00:00:00Z\",\"id\":\"id1\","
	    "\"name\":\"w\",\"steps\":[{\"agent\":{\"agent_name\":\"a\"},"
	    "\"name\":\"s\"},{\"mode\":\"collect\",\"name\":\"c\"}]}");
	json_decref(def);
	return (0);
}

static int
t_expand(void)
{
	json_t	*vars = J("{\"a\":\"AA\",\"evil\":\"{{a}}\"}");
	char	*s;

	s = wf_expand("x {{input}} {{a}} {{b}} {{input}}", "IN", vars);
	T_EQ_STR(s, "x IN AA {{b}} IN");
	free(s);
	/* One pass: what a value brings in is not expanded again. */
	s = wf_expand("{{evil}}", "{{a}}", vars);
	T_EQ_STR(s, "{{a}}");
	free(s);
	s = wf_expand("{{input}}", "{{a}}", vars);
	T_EQ_STR(s, "{{a}}");
	free(s);
	s = wf_expand("{{ {{input}} }} {{", "i", vars);
	T_EQ_STR(s, "{{ i }} {{");
	free(s);
	json_decref(vars);
	return (0);
}

static int
t_cond(void)
{
	static const struct {
		const char	*cond;
		const char	*input;
		int		 want;
	} cases[] = {
		{ "approved", "Status: APPROVED", 1 },
		{ "APPROVED", "status: approved", 1 },
		{ "rejected", "approved", 0 },
		{ "!rejected", "approved", 1 },
		{ "a || b", "xbx", 1 },
		{ "a && b", "ab", 1 },
		{ "a && b", "a", 0 },
		{ "a && !b", "a", 1 },
		{ "x || a && b", "ab", 1 },
		{ "\"a||b\"", "\"a||b\"", 1 },
		{ "  spaced  ", "a spaced word", 1 },
	};
	size_t	 i;

	for (i = 0; i < sizeof(cases) / sizeof(cases[0]); i++)
		if (wf_cond_match(cases[i].cond, cases[i].input) !=
		    cases[i].want) {
			printf("# '%s' on '%s': wanted %d\n", cases[i].cond,
			    cases[i].input, cases[i].want);
			return (-1);
		}
	return (0);
}

static int
t_seed(void)
{
	json_t	*in, *vars;
	char	*input;

	in = J("{\"input\":\"hello\",\"n\":3,\"b\":true,\"z\":null,"
	    "\"o\":{\"k\":1}}");
	T_EQ_INT(wf_input_seed(in, &input, &vars), 0);
	T_EQ_STR(input, "hello");
	T_EQ_STR(S(vars), "{\"b\":\"true\",\"input\":\"hello\",\"n\":\"3\","
	    "\"o\":\"{\\\"k\\\":1}\",\"z\":\"\"}");
	free(input);
	json_decref(in);
	/* A string holding an object seeds the same way. */
	in = json_string("{\"topic\":\"ops\"}");
	T_EQ_INT(wf_input_seed(in, &input, &vars), 0);
	T_EQ_STR(input, "{\"topic\":\"ops\"}");
	T_EQ_STR(S(vars), "{\"topic\":\"ops\"}");
	free(input);
	json_decref(in);
	in = json_integer(5);
	T_EQ_INT(wf_input_seed(in, &input, &vars), 0);
	T_EQ_STR(input, "");
	T_EQ_STR(S(vars), "{}");
	free(input);
	json_decref(in);
	return (0);
}

int
main(void)
{
	static const struct tap_case cases[] = {
		{ "a step's defaults", t_defaults },
		{ "flat and tagged forms made canonical", t_shapes },
		{ "bad definitions refused with the reason", t_refused },
		{ "DAG mode: layers by dependency", t_dag },
		{ "every step's agent must exist", t_agents },
		{ "the GET view names agents as objects", t_view },
		{ "templates expand in one pass", t_expand },
		{ "conditions: substrings, ||, &&, !", t_cond },
		{ "the run input seeds variables", t_seed },
		{ NULL, NULL }
	};

	return (tap_main(cases));
}
