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
