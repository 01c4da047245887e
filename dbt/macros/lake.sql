{#- The raw tables on Spark: the Parquet folders of the lake (featurestore/lake.py writes `<table>/_load_id=<n>/`
    from the DuckDB warehouse), registered as external tables raw.<table> partitioned by _load_id, so the sources
    read the same names on both engines. Each run adds the folders of new loads to the metastore (msck repair);
    dropping such a table leaves its files alone. On DuckDB the raw tables are the warehouse's own: nothing to do. -#}
{% macro register_lake() -%}
    {{- return(adapter.dispatch('register_lake')()) -}}
{%- endmacro %}

{% macro default__register_lake() -%}{%- endmacro %}

{% macro spark__register_lake() -%}
    {%- if execute -%}
        {%- set lake = env_var('CREDIT_SCORING_LAKE') -%}
        {%- do run_query('create schema if not exists raw') -%}
        {%- for node in graph.sources.values() if node.source_name == 'raw' -%}
            {%- set table = node.schema ~ '.' ~ node.identifier -%}
            {%- do run_query('create table if not exists ' ~ table ~ " using parquet location '"
                             ~ lake ~ '/' ~ node.identifier ~ "'") -%}
            {%- do run_query('msck repair table ' ~ table) -%}
        {%- endfor -%}
    {%- endif -%}
{%- endmacro %}
