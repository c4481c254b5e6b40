{# Expressions the bronze models need that DuckDB and Snowflake spell differently (local runs use DuckDB, dev and prod Snowflake). #}

{# A text field of a JSON column: address->country_code. #}
{% macro json_text(column, field) -%}
    {{ return(adapter.dispatch('json_text')(column, field)) }}
{%- endmacro %}

{% macro default__json_text(column, field) -%}
    json_extract_string({{ column }}, '$.{{ field }}')
{%- endmacro %}

{% macro snowflake__json_text(column, field) -%}
    {{ column }}:{{ field }}::varchar
{%- endmacro %}

{% macro postgres__json_text(column, field) -%}
    ({{ column }}::jsonb ->> '{{ field }}')
{%- endmacro %}

{# A timestamp with time zone as a plain UTC timestamp. #}
{% macro utc_timestamp(expression) -%}
    {{ return(adapter.dispatch('utc_timestamp')(expression)) }}
{%- endmacro %}

{% macro default__utc_timestamp(expression) -%}
    cast({{ expression }} at time zone 'UTC' as timestamp)
{%- endmacro %}

{% macro snowflake__utc_timestamp(expression) -%}
    convert_timezone('UTC', {{ expression }})::timestamp_ntz
{%- endmacro %}
