{# Expressions the bronze models need that DuckDB, Snowflake and Redshift spell differently (local runs use DuckDB, dev and prod Snowflake or Redshift). Redshift falls back to the postgres__ macros, so it needs its own where PostgreSQL's SQL is not Redshift's. #}

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

{# Redshift has no jsonb; Airbyte's Redshift destination writes a JSON object as SUPER. #}
{% macro redshift__json_text(column, field) -%}
    json_extract_path_text(json_serialize({{ column }}), '{{ field }}')
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
