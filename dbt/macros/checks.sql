{#- The SQL of the numeric_columns_only test (tests/generic), per engine: the model's non-numeric columns. -#}
{% macro default__non_numeric_columns(model, except) -%}
select column_name, data_type
from information_schema.columns
where table_schema = '{{ model.schema }}'
  and table_name = '{{ model.identifier }}'
  and column_name not in ({% for c in except %}'{{ c }}'{{ ", " if not loop.last }}{% endfor %})
  and data_type not in ('DOUBLE', 'BIGINT', 'INTEGER', 'HUGEINT', 'SMALLINT', 'TINYINT', 'FLOAT', 'UBIGINT')
  and data_type not like 'DECIMAL%'
{%- endmacro %}

{#- Spark has no information_schema: the columns are read from the catalog, one row per offending column. -#}
{% macro spark__non_numeric_columns(model, except) -%}
{%- set rows = [] -%}
{%- if execute -%}
    {%- for column in adapter.get_columns_in_relation(model) if column.name not in except -%}
        {%- if column.dtype | lower not in ('double', 'bigint', 'int', 'smallint', 'tinyint', 'float')
              and not column.dtype.lower().startswith('decimal') -%}
            {%- do rows.append("select '" ~ column.name ~ "' as column_name, '" ~ column.dtype ~ "' as data_type") -%}
        {%- endif -%}
    {%- endfor -%}
{%- endif -%}
{{ rows | join('\nunion all\n') if rows else "select 'none' as column_name, 'none' as data_type where false" }}
{%- endmacro %}

{#- In an incremental model (one with _max_load_id), the condition keeping the rows this build rebuilt; none for
    other models. After a full build, or when this invocation built nothing, it keeps every row. -#}
{% macro rebuilt_rows(model) -%}
    {%- if execute and '_max_load_id' in adapter.get_columns_in_relation(model) | map(attribute='name') | list -%}
        {{- return('_max_load_id > ' ~ watermark_of_this_build(model.identifier)) -}}
    {%- endif -%}
    {{- return(none) -}}
{%- endmacro %}

{#- dbt's `unique` test, in proportion to a night's batch: in an incremental model only the keys this build rebuilt
    are checked (a duplicate needs a row this build inserted; the build that wrote the others checked them). -#}
{% macro default__test_unique(model, column_name) -%}
{%- set rebuilt = rebuilt_rows(model) %}
select
    {{ column_name }} as unique_field,
    count(*) as n_records
from {{ model }}
where {{ column_name }} is not null
{%- if rebuilt %}
    and {{ column_name }} in (select {{ column_name }} from {{ model }} where {{ rebuilt }})
{%- endif %}
group by {{ column_name }}
having count(*) > 1
{%- endmacro %}
