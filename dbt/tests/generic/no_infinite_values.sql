{#- Fails when a DOUBLE column holds +/-infinity or NaN (division by zero must give NULL), naming the columns.
    One aggregate per column (the largest absolute value is infinite or NaN when one value is): a wide table is
    read once, and the checks run on a single row. In an incremental model (with _max_load_id), only the rows this
    build rebuilt are read: a night's checks cost in proportion to its batch (a full build checks every row). -#}
{% test no_infinite_values(model) %}
{%- set columns = [] -%}
{%- if execute -%}
    {%- for column in adapter.get_columns_in_relation(model) if column.dtype | upper == 'DOUBLE' -%}
        {%- do columns.append(column.name) -%}
    {%- endfor -%}
{%- endif -%}
{%- set rebuilt = rebuilt_rows(model) -%}
{%- if not columns -%}
select 1 as no_double_column where false
{%- else %}
with

largest as (
    select
        {%- for column in columns %}
        max(abs({{ column }})) as {{ column }}{{ ',' if not loop.last }}
        {%- endfor %}
    from {{ model }}
    {%- if rebuilt %}
    where {{ rebuilt }}
    {%- endif %}
)

select
    concat_ws(
        ', ',
        {%- for column in columns %}
        case when {{ not_finite(column) }} then '{{ column }}' end{{ ',' if not loop.last }}
        {%- endfor %}
    ) as infinite_columns
from largest
where
    {%- for column in columns %}
    {{ 'or ' if not loop.first }}{{ not_finite(column) }}
    {%- endfor %}
{%- endif %}
{% endtest %}
