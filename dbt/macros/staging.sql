{#- The select of a staging model: every raw column of the contract cast to its type, the 365243 day code and
    XNA / XAP categories set to NULL, then _load_id and the table's data-quality flags (0/1). -#}
{% macro stage(table) -%}
{%- set t = raw_contract()[table] -%}
select
{%- for c in t.columns %}
    {% set col = adapter.quote(c.name) -%}
    {%- if c.domain -%}
    case when {{ col }} in ('XNA', 'XAP') then null else {{ col }} end
    {%- elif c.name.startswith('DAYS_') -%}
    nullif({{ col }}, {{ days_code() }})
    {%- else -%}
    {{ col }}
    {%- endif -%}::{{ c.type }} as {{ col }},
{%- endfor %}
    _load_id,
{%- for flag in t.flags %}
    coalesce(({{ flag[1] }})::INTEGER, 0) as {{ flag[0] }}{{ "," if not loop.last }}
{%- endfor %}
from {{ source('raw', table) }}
{%- endmacro %}
