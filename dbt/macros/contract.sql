{#- The raw contract as dbt reads it: models/staging/_sources.yml (the file ingestion reads too), through the
    graph. Nothing here holds a copy of it. dbt builds no graph for unit tests: a unit test of a model that reads
    the contract overrides categorical_columns, domain_of, no_date_code or not_available_codes. -#}

{#- The source node of a raw table. -#}
{% macro raw_table(table) -%}
    {%- if graph.sources is not defined -%}
        {{- exceptions.raise_compiler_error("The raw contract is not in this context (a unit test?): override "
                                            ~ "categorical_columns, domain_of, no_date_code or not_available_codes") -}}
    {%- endif -%}
    {%- for node in graph.sources.values() if node.source_name == 'raw' and node.name == table -%}
        {{- return(node) -}}
    {%- endfor -%}
    {{- exceptions.raise_compiler_error("No table '" ~ table ~ "' in source raw (models/staging/_sources.yml)") -}}
{%- endmacro %}

{#- The columns of a raw table in file order, as the warehouse holds them (ingestion creates them from the contract):
    Column objects with .name and .dtype. Empty while dbt parses. -#}
{% macro raw_columns(table) -%}
    {{- return(raw_columns_of(source('raw', table))) -}}
{%- endmacro %}

{% macro raw_columns_of(relation) -%}
    {{- return(adapter.get_columns_in_relation(relation) if execute else []) -}}
{%- endmacro %}

{#- The rows of two CTEs whose columns have the same names, matched by name (the second may order them otherwise);
    `like` is a relation with the columns of the first. -#}
{% macro union_all_by_name(first, second, like) -%}
    {{- return(adapter.dispatch('union_all_by_name')(first, second, like)) -}}
{%- endmacro %}

{% macro default__union_all_by_name(first, second, like) -%}
    {%- set columns = (['DATASET'] + raw_columns_of(like) | map(attribute='name') | list) | join(', ') -%}
    select {{ columns }} from {{ first }}
    union all
    select {{ columns }} from {{ second }}
{%- endmacro %}

{% macro duckdb__union_all_by_name(first, second, like) -%}
    select * from {{ first }}
    union all by name
    select * from {{ second }}
{%- endmacro %}

{#- The contract's entry of every categorical column of a raw table ({name, meta.domain, ...}), in file order
    (application_test: those of application_train, as its meta says). -#}
{% macro categorical_columns(table) -%}
    {%- if not execute -%}{{- return([]) -}}{%- endif -%}
    {%- set node = raw_table(table) -%}
    {%- if node.meta.same_columns_as -%}{{- return(categorical_columns(node.meta.same_columns_as)) -}}{%- endif -%}
    {{- return(node.columns.values() | selectattr('meta.domain') | list) -}}
{%- endmacro %}

{#- The [value, column-safe slug] pairs of a categorical column, without the not-available codes (which staging
    turns into NULL), in the contract's order. 'Spouse, partner' -> 'SPOUSE_PARTNER'. -#}
{% macro domain_of(table, column) -%}
    {%- set pairs = [] -%}
    {%- for c in categorical_columns(table) if c.name == column -%}
        {%- for value in c.meta.domain if value not in not_available_codes() -%}
            {%- do pairs.append([value, modules.re.sub('[^0-9A-Za-z]+', '_', value).strip('_').upper()]) -%}
        {%- endfor -%}
    {%- endfor -%}
    {{- return(pairs) -}}
{%- endmacro %}

{#- The value DAYS_* columns hold for "no date" in the files. -#}
{% macro no_date_code() -%}
    {{- return(raw_table('bureau').source_meta.no_date_code if execute else 0) -}}
{%- endmacro %}

{#- The category codes meaning "not available" / "not applicable" (XNA, XAP). -#}
{% macro not_available_codes() -%}
    {{- return(raw_table('bureau').source_meta.not_available if execute else []) -}}
{%- endmacro %}

{#- A DAYS_* column with the no-date code turned into NULL. -#}
{% macro no_date(column) -%}
    nullif({{ column }}, {{ no_date_code() }})
{%- endmacro %}

{#- A category with the not-available / not-applicable codes (XNA, XAP) turned into NULL. -#}
{% macro not_available(column) -%}
    case when {{ column }} in ('{{ not_available_codes() | join("', '") }}') then null else {{ column }} end
{%- endmacro %}

