{#- Aggregation macros: the features of the intermediate models are written as small specs, so adding an
    aggregate is one entry in the model's `{% set ... %}` block. Names follow the Kaggle kernel:
    <PREFIX><COLUMN>_<FUNC>, e.g. BURO_DAYS_CREDIT_MEAN.
    A subset of rows (`where`) is aggregated as agg(case when <where> then <expr> end): aggregates skip NULLs, so
    this equals agg(<expr>) filter (where <where>), is portable, and costs far less in DuckDB than a FILTER clause. -#}

{#- One aggregate of `expr`, restricted to rows matching `where` when given.
    mean = avg, var = SAMPLE variance (var_samp, as pandas), size = rows, count = non-null values. -#}
{% macro agg_sql(func, expr, where=none) -%}
    {%- set simple = {'min': 'min', 'max': 'max', 'mean': 'avg', 'var': 'var_samp', 'std': 'stddev_samp',
                      'count': 'count'} -%}
    {%- set value = 'case when ' ~ where ~ ' then ' ~ expr ~ ' end' if where else expr -%}
    {%- if func == 'size' -%}{{ 'count(case when ' ~ where ~ ' then 1 end)' if where else 'count(*)' }}
    {%- elif func == 'nunique' -%}{{ count_distinct(value) }}
    {%- elif func == 'sum' -%}cast(sum({{ value }}) as double)
    {%- elif func in simple -%}{{ simple[func] }}({{ value }})
    {%- else -%}{{ exceptions.raise_compiler_error("Unknown aggregate '" ~ func ~ "' for " ~ expr) }}
    {%- endif -%}
{%- endmacro %}

{#- The number of distinct non-NULL values of `expr` in the group. -#}
{% macro count_distinct(expr) -%}
    {{- return(adapter.dispatch('count_distinct')(expr)) -}}
{%- endmacro %}

{% macro default__count_distinct(expr) -%}
    count(distinct {{ expr }})
{%- endmacro %}

{#- DuckDB plans count(distinct) as a second hash aggregate over every (group, value) pair (11.7 million for the
    instalment numbers of each loan); collecting each group's values and counting the distinct ones in that small
    list is twice as fast. list_distinct drops NULLs, as count(distinct) does. -#}
{% macro duckdb__count_distinct(expr) -%}
    len(list_distinct(list({{ expr }})))
{%- endmacro %}

{#- `spec` maps a column to its aggregates: {'DAYS_CREDIT': ['min', 'max', 'mean', 'var']}.
    Returns the select items, comma-separated, named <prefix><COLUMN>_<FUNC>. -#}
{% macro aggregates(spec, prefix, where=none) -%}
    {%- set items = [] -%}
    {%- for col, funcs in spec.items() -%}
        {%- for func in funcs -%}
            {%- do items.append(agg_sql(func, col, where) ~ ' as ' ~ prefix ~ col ~ '_' ~ (func | upper)) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{- return(items | join(',\n    ')) -}}
{%- endmacro %}

{#- The names of the columns `aggregates(spec, prefix)` makes, comma-separated and qualified with `alias`. -#}
{% macro aggregate_names(spec, prefix, alias) -%}
    {%- set names = [] -%}
    {%- for col, funcs in spec.items() -%}
        {%- for func in funcs -%}
            {%- do names.append(alias ~ '.' ~ prefix ~ col ~ '_' ~ (func | upper)) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{- return(names | join(',\n        ')) -}}
{%- endmacro %}

{#- True when `column` holds `value` (for `value` none: when it is NULL). -#}
{% macro holds(column, value) -%}
    {%- if value is none -%}{{ column }} is null
    {%- else -%}{{ column }} = '{{ value | replace("'", "''") }}'
    {%- endif -%}
{%- endmacro %}

{#- 1 when `column` holds `value` (for `value` none: when it is NULL), else 0. -#}
{% macro indicator(column, value) -%}
    case when {{ holds(column, value) }} then 1 else 0 end
{%- endmacro %}

{#- One-hot indicator of every value of `columns` (domains from the raw contract, plus NAN for NULL), aggregated
    with `funcs`: with 'mean', the share of the rows having that value. Named <prefix><COLUMN>_<VALUE SLUG>_<FUNC>.
    A share is counted, then divided by the group's rows: the same double as the mean of the 0/1 indicator, but
    a count is the cheapest aggregate there is (a previous application has 131 category values). -#}
{% macro category_shares(table, columns, prefix, funcs=['mean']) -%}
    {%- set items = [] -%}
    {%- for column in columns -%}
        {%- for pair in domain_of(table, column) + [[none, 'NAN']] -%}
            {%- for func in funcs -%}
                {%- set value = 'count(case when ' ~ holds(column, pair[0]) ~ ' then 1 end) / count(*)'
                                if func == 'mean' else agg_sql(func, indicator(column, pair[0])) -%}
                {%- do items.append(value ~ ' as ' ~ prefix ~ column ~ '_' ~ pair[1] ~ '_' ~ (func | upper)) -%}
            {%- endfor -%}
        {%- endfor -%}
    {%- endfor -%}
    {{- return(items | join(',\n    ')) -}}
{%- endmacro %}

{#- One-hot 0/1 columns of a single row's categorical values (applications): <COLUMN>_<VALUE SLUG>, NAN for NULL. -#}
{% macro one_hot(table, columns) -%}
    {%- set items = [] -%}
    {%- for column in columns -%}
        {%- for pair in domain_of(table, column) + [[none, 'NAN']] -%}
            {%- do items.append(indicator(column, pair[0]) ~ ' as ' ~ column ~ '_' ~ pair[1]) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{- return(items | join(',\n    ')) -}}
{%- endmacro %}

{#- a / b, NULL (never infinity) when b is 0 or NULL. -#}
{% macro safe_div(a, b) -%}
    ({{ a }}) / nullif({{ b }}, 0)
{%- endmacro %}

{#- max(expr, lower), NULL when expr is NULL (as pandas' clip; some engines' greatest would ignore the NULL). -#}
{% macro clip_lower(expr, lower=0) -%}
    case when ({{ expr }}) is null then null else greatest({{ expr }}, {{ lower }}) end
{%- endmacro %}

{#- The value of `expr` on the row where `order_by` is largest, among the rows where `expr` is not NULL: DuckDB's
    max_by skips NULL values and Spark's returns them, so the NULLs are left out of the ordering for both. -#}
{% macro last_non_null(expr, order_by) -%}
    max_by({{ expr }}, case when {{ expr }} is not null then {{ order_by }} end)
{%- endmacro %}

{#- Least-squares slope of y against x over the group; NULL (not NaN) when x does not vary. -#}
{% macro trend(y, x) -%}
    case when regr_count({{ y }}, {{ x }}) > 1 and regr_sxx({{ y }}, {{ x }}) > 0 then regr_slope({{ y }}, {{ x }}) end
{%- endmacro %}

{#- True for NaN and +/-infinity. -#}
{% macro not_finite(expr) -%}
    {{- return(adapter.dispatch('not_finite')(expr)) -}}
{%- endmacro %}

{% macro default__not_finite(expr) -%}
    ({{ expr }} <> {{ expr }} or abs({{ expr }}) = cast('Infinity' as double))
{%- endmacro %}

{#- Spark's NaN equals itself (so the default's x <> x never holds). -#}
{% macro spark__not_finite(expr) -%}
    (isnan({{ expr }}) or abs({{ expr }}) = double('Infinity'))
{%- endmacro %}

{% macro duckdb__not_finite(expr) -%}
    not isfinite({{ expr }})
{%- endmacro %}
