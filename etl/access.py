"""Who may read what on PostgreSQL: schemas, roles, ownership and grants.

Two schemas keep raw personal data apart from the reporting layer:

- ``personal``: the pipeline's tables with names, national IDs, mobiles and the
  refused rows as sent, plus the pipeline's own bookkeeping. Only the owner role.
- ``reporting``: the reporting views, the reference tables, the file manifest,
  refusal reasons, and pseudonymised views of the records and persons.

Roles (cluster-wide, created when missing): ``mashaghel_owner`` owns every object
and is the role the pipeline acts as (log in as a member of it);
``mashaghel_analyst`` may read the reporting schema and nothing else, and write
nothing. Give each analyst a login role that is a member of ``mashaghel_analyst``.

The database's search_path is ``personal, reporting, public``: the owner finds
the full tables first, while an analyst, who may not use ``personal``, finds the
pseudonymised views of the same names in ``reporting``.

The rules are applied by migration 0002 and again after every migration, so a
fresh warehouse and an upgraded one end the same, and objects added by later
migrations are covered.
"""

from __future__ import annotations

from sqlalchemy.engine import Connection

OWNER_ROLE = "mashaghel_owner"
ANALYST_ROLE = "mashaghel_analyst"
PERSONAL_SCHEMA = "personal"
REPORTING_SCHEMA = "reporting"
SEARCH_PATH = f"{PERSONAL_SCHEMA}, {REPORTING_SCHEMA}, public"

_ROLES = f"""
DO $$
BEGIN
    BEGIN
        CREATE ROLE {OWNER_ROLE} NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;  -- made by another database's migration
    END;
    BEGIN
        CREATE ROLE {ANALYST_ROLE} NOLOGIN;
    EXCEPTION WHEN duplicate_object OR unique_violation THEN NULL;
    END;
    IF NOT pg_has_role(current_user, '{OWNER_ROLE}', 'USAGE') THEN
        EXECUTE format('GRANT {OWNER_ROLE} TO %I', current_user);
    END IF;
END $$
"""

_OWNERSHIP = f"""
DO $$
DECLARE
    object record;
BEGIN
    EXECUTE 'ALTER SCHEMA {PERSONAL_SCHEMA} OWNER TO {OWNER_ROLE}';
    EXECUTE 'ALTER SCHEMA {REPORTING_SCHEMA} OWNER TO {OWNER_ROLE}';
    FOR object IN
        SELECT n.nspname AS schema_name, c.relname AS name,
               CASE c.relkind WHEN 'v' THEN 'VIEW' WHEN 'm' THEN 'MATERIALIZED VIEW'
                              WHEN 'S' THEN 'SEQUENCE' ELSE 'TABLE' END AS kind
        FROM pg_class AS c
        JOIN pg_namespace AS n ON n.oid = c.relnamespace
        WHERE n.nspname IN ('{PERSONAL_SCHEMA}', '{REPORTING_SCHEMA}')
          AND c.relkind IN ('r', 'p', 'v', 'm', 'S')
          AND pg_get_userbyid(c.relowner) <> '{OWNER_ROLE}'
          AND NOT EXISTS (SELECT 1 FROM pg_depend AS d  -- sequences of identity columns follow their table
                          WHERE d.objid = c.oid AND d.deptype IN ('a', 'i') AND c.relkind = 'S')
    LOOP
        EXECUTE format('ALTER %s %I.%I OWNER TO {OWNER_ROLE}', object.kind, object.schema_name, object.name);
    END LOOP;
    EXECUTE format('ALTER DATABASE %I SET search_path = {SEARCH_PATH}', current_database());
END $$
"""

_GRANTS = (
    f"REVOKE ALL ON SCHEMA {PERSONAL_SCHEMA} FROM PUBLIC",
    f"REVOKE ALL ON SCHEMA {REPORTING_SCHEMA} FROM PUBLIC",
    f"REVOKE ALL ON SCHEMA {PERSONAL_SCHEMA} FROM {ANALYST_ROLE}",
    f"REVOKE ALL ON ALL TABLES IN SCHEMA {PERSONAL_SCHEMA} FROM PUBLIC, {ANALYST_ROLE}",
    f"REVOKE ALL ON ALL TABLES IN SCHEMA {REPORTING_SCHEMA} FROM PUBLIC, {ANALYST_ROLE}",
    f"GRANT USAGE ON SCHEMA {REPORTING_SCHEMA} TO {ANALYST_ROLE}",
    f"GRANT SELECT ON ALL TABLES IN SCHEMA {REPORTING_SCHEMA} TO {ANALYST_ROLE}",
    # Tables and views made later, by the owner role or by the pipeline's login role.
    f"ALTER DEFAULT PRIVILEGES FOR ROLE {OWNER_ROLE} IN SCHEMA {REPORTING_SCHEMA}"
    f" GRANT SELECT ON TABLES TO {ANALYST_ROLE}",
    f"ALTER DEFAULT PRIVILEGES IN SCHEMA {REPORTING_SCHEMA} GRANT SELECT ON TABLES TO {ANALYST_ROLE}",
    f"ALTER DEFAULT PRIVILEGES FOR ROLE {OWNER_ROLE} IN SCHEMA {PERSONAL_SCHEMA} REVOKE ALL ON TABLES FROM PUBLIC",
    # Nobody but the owner creates anything, not even temporary tables.
    "REVOKE CREATE ON SCHEMA public FROM PUBLIC",
    f"REVOKE ALL ON SCHEMA public FROM {ANALYST_ROLE}",
    "DO $$ BEGIN EXECUTE format('REVOKE TEMPORARY ON DATABASE %I FROM PUBLIC', current_database()); END $$",
    f"DO $$ BEGIN EXECUTE format('GRANT TEMPORARY, CONNECT ON DATABASE %I TO {OWNER_ROLE}', current_database());"
    " END $$",
    f"DO $$ BEGIN EXECUTE format('GRANT CONNECT ON DATABASE %I TO {ANALYST_ROLE}', current_database()); END $$",
)


def apply_access_rules(connection: Connection) -> None:
    """Create the roles when missing, give every object to the owner role, and grant (PostgreSQL only)."""
    if connection.dialect.name != "postgresql":
        return
    for statement in (_ROLES, _OWNERSHIP, *_GRANTS):
        run_plain_sql(connection, statement)


def run_plain_sql(connection: Connection, statement: str) -> None:
    """Run SQL with no parameters on the connection's transaction (``%`` is not a placeholder here)."""
    with connection.connection.driver_connection.cursor() as cursor:
        cursor.execute(statement)
