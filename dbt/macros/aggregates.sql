{#- Aggregation macros: every feature of the intermediate models is generated from a small spec, so adding an
    aggregate is one entry in the model's `{% set ... %}` block. Names follow the Kaggle kernel:
    <PREFIX><COLUMN>_<FUNC>, e.g. BURO_DAYS_CREDIT_MEAN. -#}

{#- One aggregate of `expr`, restricted to rows matching `where` when given.
    mean = avg, var = SAMPLE variance (var_samp, as pandas), size = rows, count = non-null values. -#}
{% macro agg_sql(func, expr, where=none) -%}
    {%- set simple = {'min': 'min', 'max': 'max', 'mean': 'avg', 'sum': 'sum', 'var': 'var_samp',
                      'std': 'stddev_samp', 'count': 'count'} -%}
    {%- set filter = ' filter (where ' ~ where ~ ')' if where else '' -%}
    {%- if func == 'size' -%}count(*){{ filter }}
    {%- elif func == 'nunique' -%}count(distinct {{ expr }}){{ filter }}
    {%- elif func == 'sum' -%}(sum({{ expr }}){{ filter }})::DOUBLE
    {%- elif func in simple -%}{{ simple[func] }}({{ expr }}){{ filter }}
    {%- else -%}{{ exceptions.raise_compiler_error("Unknown aggregate '" ~ func ~ "' for " ~ expr) }}
    {%- endif -%}
{%- endmacro %}

{#- `spec` maps a column to its aggregates: {'DAYS_CREDIT': ['min', 'max', 'mean', 'var']}.
    Returns the select items, comma-separated, named <prefix><COLUMN>_<FUNC>. -#}
{% macro aggregates(spec, prefix, where=none) -%}
    {%- set items = [] -%}
    {%- for col, funcs in spec.items() -%}
        {%- for func in funcs -%}
            {%- do items.append(agg_sql(func, adapter.quote(col), where) ~ ' as '
                                ~ adapter.quote(prefix ~ col ~ '_' ~ (func | upper))) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{- return(items | join(',\n    ')) -}}
{%- endmacro %}

{#- The [value, slug] pairs of a categorical column of a raw table (schema.py's domain without XNA/XAP). -#}
{% macro domain_of(table, column) -%}
    {%- for c in raw_contract()[table].columns if c.name == column -%}
        {{- return(c.domain) -}}
    {%- endfor -%}
    {{- exceptions.raise_compiler_error("No categorical column " ~ column ~ " in " ~ table) -}}
{%- endmacro %}

{#- One-hot indicator of every value of `columns` (plus NAN for NULL), aggregated with `funcs`:
    with 'mean', the share of the rows having that value. Named <prefix><COLUMN>_<VALUE SLUG>_<FUNC>. -#}
{% macro category_shares(table, columns, prefix, funcs=['mean'], where=none) -%}
    {%- set items = [] -%}
    {%- for column in columns -%}
        {%- set col = adapter.quote(column) -%}
        {%- for pair in domain_of(table, column) + [[none, 'NAN']] -%}
            {%- if pair[0] is none -%}
                {%- set indicator = '(' ~ col ~ ' is null)::INTEGER' -%}
            {%- else -%}
                {%- set indicator = 'coalesce((' ~ col ~ " = '" ~ pair[0] | replace("'", "''") ~ "')::INTEGER, 0)" -%}
            {%- endif -%}
            {%- for func in funcs -%}
                {%- do items.append(agg_sql(func, indicator, where) ~ ' as '
                                    ~ adapter.quote(prefix ~ column ~ '_' ~ pair[1] ~ '_' ~ (func | upper))) -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endfor -%}
    {{- return(items | join(',\n    ')) -}}
{%- endmacro %}

{#- One-hot 0/1 columns of a single row's categorical values (application): <COLUMN>_<VALUE SLUG>, NAN for NULL. -#}
{% macro one_hot(table, columns) -%}
    {%- set items = [] -%}
    {%- for column in columns -%}
        {%- set col = adapter.quote(column) -%}
        {%- for pair in domain_of(table, column) -%}
            {%- do items.append('coalesce((' ~ col ~ " = '" ~ pair[0] | replace("'", "''") ~ "')::INTEGER, 0) as "
                                ~ adapter.quote(column ~ '_' ~ pair[1])) -%}
        {%- endfor -%}
        {%- do items.append('(' ~ col ~ ' is null)::INTEGER as ' ~ adapter.quote(column ~ '_NAN')) -%}
    {%- endfor -%}
    {{- return(items | join(',\n    ')) -}}
{%- endmacro %}

{#- a / b, NULL (never infinity) when b is 0 or NULL. -#}
{% macro safe_div(a, b) -%}
    ({{ a }}) / nullif({{ b }}, 0)
{%- endmacro %}

{#- max(expr, lower), NULL when expr is NULL (as pandas' clip; DuckDB's greatest would ignore the NULL). -#}
{% macro clip_lower(expr, lower=0) -%}
    case when ({{ expr }}) is null then null else greatest({{ expr }}, {{ lower }}) end
{%- endmacro %}

{#- Least-squares slope of y against x over the group; NULL (not NaN) when x does not vary. -#}
{% macro trend(y, x) -%}
    case when regr_count({{ y }}, {{ x }}) > 1 and regr_sxx({{ y }}, {{ x }}) > 0 then regr_slope({{ y }}, {{ x }}) end
{%- endmacro %}
