-- Everything pg_steward owns in the current database, one property a line:
--
--     <object> | <property> | <value>
--
-- Used by test/t/008_upgrade.pl to compare an updated install with a fresh
-- one (diff -u of the two outputs), so it names objects, never OIDs.  It
-- covers the extension (version, configuration tables and their filters),
-- its schema, and every member object (pg_depend deptype 'e'): functions
-- (arguments, result, language, body, settings, volatility, strictness,
-- security definer, parallel safety, cost, owner, privileges), tables and
-- views (columns in order with type, default, NOT NULL, identity; constraints,
-- indexes, triggers, row-level security, policies, rules, options, view
-- definitions), sequences (parameters, OWNED BY), types, event triggers,
-- comments, and the initial privileges that pg_dump compares with.  Objects
-- in the extension's schema that are not members are listed too.
--
-- Run with: psql -XAtq -f test/upgrade_catalog.sql
SET search_path = pg_catalog, pg_temp;

WITH ext AS (
	SELECT e.oid, e.extname, e.extversion, e.extrelocatable, e.extnamespace,
		   e.extconfig, e.extcondition
	  FROM pg_catalog.pg_extension e
	 WHERE e.extname = 'pg_steward'
),
member AS (
	SELECT d.classid, d.objid,
		   pg_catalog.pg_describe_object(d.classid, d.objid, 0) AS obj
	  FROM pg_catalog.pg_depend d, ext
	 WHERE d.refclassid = 'pg_catalog.pg_extension'::pg_catalog.regclass
	   AND d.refobjid = ext.oid AND d.deptype = 'e'
),
fn AS (
	SELECT m.obj, p.*
	  FROM member m JOIN pg_catalog.pg_proc p ON p.oid = m.objid
	 WHERE m.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass
),
rel AS (
	SELECT m.obj, c.oid AS reloid, c.*
	  FROM member m JOIN pg_catalog.pg_class c ON c.oid = m.objid
	 WHERE m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
),
col AS (
	SELECT r.obj, r.reloid, a.*,
		   pg_catalog.row_number() OVER (PARTITION BY r.reloid ORDER BY a.attnum) AS pos
	  FROM rel r
	  JOIN pg_catalog.pg_attribute a ON a.attrelid = r.reloid
	 WHERE a.attnum > 0 AND NOT a.attisdropped
),
line (obj, prop, seq, val) AS (
	-- the extension itself
	SELECT 'extension ' || ext.extname, 'version', 0, ext.extversion FROM ext
	UNION ALL
	SELECT 'extension ' || ext.extname, 'relocatable', 0, ext.extrelocatable::text FROM ext
	UNION ALL
	SELECT 'extension ' || ext.extname, 'schema', 0, n.nspname::text
	  FROM ext JOIN pg_catalog.pg_namespace n ON n.oid = ext.extnamespace
	UNION ALL
	SELECT 'extension ' || ext.extname,
		   'pg_dump keeps data of ' || c.cfg::pg_catalog.regclass::text, 0,
		   COALESCE(pg_catalog.quote_literal(ext.extcondition[c.i]), 'NULL')
	  FROM ext, pg_catalog.unnest(ext.extconfig) WITH ORDINALITY AS c(cfg, i)
	UNION ALL
	SELECT 'extension ' || ext.extname, 'configuration tables', 0,
		   pg_catalog.count(*)::text || ', conditions ' ||
		   COALESCE(pg_catalog.array_length(ext.extcondition, 1), 0)::text
	  FROM ext, pg_catalog.unnest(ext.extconfig)
	 GROUP BY ext.extname, ext.extcondition
	UNION ALL
	-- its schema (a member or not)
	SELECT 'schema ' || n.nspname, 'owner', 0, pg_catalog.pg_get_userbyid(n.nspowner)::text
	  FROM ext JOIN pg_catalog.pg_namespace n ON n.oid = ext.extnamespace
	UNION ALL
	SELECT 'schema ' || n.nspname, 'privileges', 0, COALESCE(n.nspacl::text, 'default')
	  FROM ext JOIN pg_catalog.pg_namespace n ON n.oid = ext.extnamespace
	UNION ALL
	SELECT 'schema ' || n.nspname, 'comment', 0, pg_catalog.obj_description(n.oid, 'pg_namespace')
	  FROM ext JOIN pg_catalog.pg_namespace n ON n.oid = ext.extnamespace
	UNION ALL
	-- every member
	SELECT m.obj, 'member of the extension', 0, 'yes' FROM member m
	UNION ALL
	SELECT m.obj, 'comment', 0, d.description
	  FROM member m
	  JOIN pg_catalog.pg_description d ON d.classoid = m.classid AND d.objoid = m.objid
	   AND d.objsubid = 0
	UNION ALL
	SELECT m.obj,
		   CASE WHEN i.objsubid = 0 THEN 'initial privileges'
				ELSE 'column ' || pg_catalog.quote_ident(a.attname) || ' initial privileges' END,
		   0, i.privtype::text || ' ' || i.initprivs::text
	  FROM member m
	  JOIN pg_catalog.pg_init_privs i ON i.classoid = m.classid AND i.objoid = m.objid
	  LEFT JOIN pg_catalog.pg_attribute a ON i.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
	   AND a.attrelid = i.objoid AND a.attnum = i.objsubid
	UNION ALL
	-- objects in the extension's schema that are not members
	SELECT 'relation ' || c.oid::pg_catalog.regclass::text, 'member of the extension', 0, 'NO'
	  FROM ext JOIN pg_catalog.pg_class c ON c.relnamespace = ext.extnamespace
	 WHERE c.relkind NOT IN ('i', 'I')
	   AND NOT EXISTS (SELECT FROM member m WHERE m.objid = c.oid
						  AND m.classid = 'pg_catalog.pg_class'::pg_catalog.regclass)
	UNION ALL
	SELECT 'function ' || p.oid::pg_catalog.regprocedure::text, 'member of the extension', 0, 'NO'
	  FROM ext JOIN pg_catalog.pg_proc p ON p.pronamespace = ext.extnamespace
	 WHERE NOT EXISTS (SELECT FROM member m WHERE m.objid = p.oid
						  AND m.classid = 'pg_catalog.pg_proc'::pg_catalog.regclass)
	UNION ALL
	-- functions
	SELECT f.obj, 'kind', 0,
		   CASE f.prokind WHEN 'f' THEN 'function' WHEN 'p' THEN 'procedure'
				WHEN 'a' THEN 'aggregate' WHEN 'w' THEN 'window' END
	  FROM fn f
	UNION ALL
	SELECT f.obj, 'arguments', 0, pg_catalog.pg_get_function_arguments(f.oid) FROM fn f
	UNION ALL
	SELECT f.obj, 'result', 0, pg_catalog.pg_get_function_result(f.oid) FROM fn f
	UNION ALL
	SELECT f.obj, 'language', 0, l.lanname::text
	  FROM fn f JOIN pg_catalog.pg_language l ON l.oid = f.prolang
	UNION ALL
	SELECT f.obj, 'library', 0, f.probin FROM fn f WHERE f.probin IS NOT NULL
	UNION ALL
	SELECT f.obj, 'source', s.n::int, s.line
	  FROM fn f, pg_catalog.regexp_split_to_table(f.prosrc, E'\n') WITH ORDINALITY AS s(line, n)
	UNION ALL
	SELECT f.obj, 'settings', 0, COALESCE(f.proconfig::text, 'none') FROM fn f
	UNION ALL
	SELECT f.obj, 'attributes', 0,
		   CASE f.provolatile WHEN 'i' THEN 'IMMUTABLE' WHEN 's' THEN 'STABLE' ELSE 'VOLATILE' END ||
		   CASE WHEN f.proisstrict THEN ' STRICT' ELSE ' CALLED ON NULL INPUT' END ||
		   CASE WHEN f.prosecdef THEN ' SECURITY DEFINER' ELSE ' SECURITY INVOKER' END ||
		   CASE WHEN f.proleakproof THEN ' LEAKPROOF' ELSE '' END ||
		   CASE f.proparallel WHEN 's' THEN ' PARALLEL SAFE' WHEN 'r' THEN ' PARALLEL RESTRICTED'
				ELSE ' PARALLEL UNSAFE' END ||
		   ' COST ' || f.procost::text ||
		   CASE WHEN f.proretset THEN ' ROWS ' || f.prorows::text ELSE '' END ||
		   CASE WHEN f.prosupport <> 0 THEN ' SUPPORT ' || f.prosupport::text ELSE '' END
	  FROM fn f
	UNION ALL
	SELECT f.obj, 'owner', 0, pg_catalog.pg_get_userbyid(f.proowner)::text FROM fn f
	UNION ALL
	SELECT f.obj, 'privileges', 0, COALESCE(f.proacl::text, 'default') FROM fn f
	UNION ALL
	-- relations: tables, views, sequences, ...
	SELECT r.obj, 'kind', 0,
		   CASE r.relkind WHEN 'r' THEN 'table' WHEN 'p' THEN 'partitioned table'
				WHEN 'v' THEN 'view' WHEN 'm' THEN 'materialized view'
				WHEN 'S' THEN 'sequence' WHEN 'c' THEN 'composite type'
				WHEN 'f' THEN 'foreign table' ELSE r.relkind::text END ||
		   CASE r.relpersistence WHEN 'u' THEN ', unlogged' WHEN 't' THEN ', temporary' ELSE '' END
	  FROM rel r
	UNION ALL
	SELECT r.obj, 'owner', 0, pg_catalog.pg_get_userbyid(r.relowner)::text FROM rel r
	UNION ALL
	SELECT r.obj, 'privileges', 0, COALESCE(r.relacl::text, 'default') FROM rel r
	UNION ALL
	SELECT r.obj, 'options', 0, r.reloptions::text FROM rel r WHERE r.reloptions IS NOT NULL
	UNION ALL
	SELECT r.obj, 'row level security', 0,
		   CASE WHEN r.relrowsecurity THEN 'enabled' ELSE 'disabled' END ||
		   CASE WHEN r.relforcerowsecurity THEN ', forced' ELSE '' END
	  FROM rel r WHERE r.relkind IN ('r', 'p')
	UNION ALL
	SELECT r.obj, 'replica identity', 0, r.relreplident::text
	  FROM rel r WHERE r.relkind IN ('r', 'p') AND r.relreplident <> 'd'
	UNION ALL
	SELECT r.obj, 'partition key', 0, pg_catalog.pg_get_partkeydef(r.reloid)
	  FROM rel r WHERE r.relkind = 'p'
	UNION ALL
	SELECT r.obj, 'inherits from', i.inhseqno, i.inhparent::pg_catalog.regclass::text
	  FROM rel r JOIN pg_catalog.pg_inherits i ON i.inhrelid = r.reloid
	UNION ALL
	SELECT r.obj, 'view definition', s.n::int, s.line
	  FROM rel r, pg_catalog.regexp_split_to_table(pg_catalog.pg_get_viewdef(r.reloid), E'\n')
			   WITH ORDINALITY AS s(line, n)
	 WHERE r.relkind IN ('v', 'm')
	UNION ALL
	-- columns: their order, then each one's definition.  Column options
	-- leave out pg_attver, which the server build used by the tests adds to
	-- every column (the WAL position at which it was created: it differs
	-- between any two databases).
	SELECT c.obj, 'columns', 0,
		   pg_catalog.string_agg(pg_catalog.quote_ident(c.attname), ', ' ORDER BY c.pos)
	  FROM col c WHERE c.attrelid IN (SELECT reloid FROM rel WHERE relkind <> 'S')
	 GROUP BY c.obj
	UNION ALL
	SELECT c.obj, 'column ' || pg_catalog.quote_ident(c.attname), 0,
		   pg_catalog.format_type(c.atttypid, c.atttypmod) ||
		   CASE WHEN c.attcollation <> t.typcollation
				THEN ' COLLATE ' || co.collname::text ELSE '' END ||
		   CASE WHEN c.attnotnull THEN ' NOT NULL' ELSE '' END ||
		   CASE c.attidentity WHEN 'a' THEN ' GENERATED ALWAYS AS IDENTITY'
				WHEN 'd' THEN ' GENERATED BY DEFAULT AS IDENTITY' ELSE '' END ||
		   CASE WHEN c.attgenerated = 's'
				THEN ' GENERATED ALWAYS AS (' || pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) || ') STORED'
				WHEN ad.adbin IS NOT NULL
				THEN ' DEFAULT ' || pg_catalog.pg_get_expr(ad.adbin, ad.adrelid) ELSE '' END ||
		   CASE WHEN c.attstorage <> t.typstorage THEN ' STORAGE ' || c.attstorage::text ELSE '' END ||
		   CASE WHEN c.attstattarget >= 0 THEN ' STATISTICS ' || c.attstattarget::text ELSE '' END ||
		   COALESCE(' OPTIONS ' || (SELECT pg_catalog.array_agg(o ORDER BY o)::text
									  FROM pg_catalog.unnest(c.attoptions) o
									 WHERE o NOT LIKE 'pg\_attver=%'), '')
	  FROM col c
	  JOIN pg_catalog.pg_type t ON t.oid = c.atttypid
	  LEFT JOIN pg_catalog.pg_collation co ON co.oid = c.attcollation
	  LEFT JOIN pg_catalog.pg_attrdef ad ON ad.adrelid = c.attrelid AND ad.adnum = c.attnum
	 WHERE c.attrelid IN (SELECT reloid FROM rel WHERE relkind <> 'S')
	UNION ALL
	SELECT c.obj, 'column ' || pg_catalog.quote_ident(c.attname) || ' privileges', 0, c.attacl::text
	  FROM col c WHERE c.attacl IS NOT NULL
	UNION ALL
	SELECT c.obj, 'column ' || pg_catalog.quote_ident(c.attname) || ' comment', 0, d.description
	  FROM col c
	  JOIN pg_catalog.pg_description d
		ON d.classoid = 'pg_catalog.pg_class'::pg_catalog.regclass
	   AND d.objoid = c.attrelid AND d.objsubid = c.attnum
	UNION ALL
	-- constraints (named as PostgreSQL names them; a different name is a
	-- difference: ALTER TABLE ... DROP CONSTRAINT needs it)
	SELECT r.obj, 'constraint ' || pg_catalog.quote_ident(k.conname), 0,
		   pg_catalog.pg_get_constraintdef(k.oid) ||
		   COALESCE(' -- ' || pg_catalog.obj_description(k.oid, 'pg_constraint'), '')
	  FROM rel r JOIN pg_catalog.pg_constraint k ON k.conrelid = r.reloid
	UNION ALL
	SELECT r.obj, 'index ' || pg_catalog.quote_ident(ic.relname), 0,
		   pg_catalog.pg_get_indexdef(x.indexrelid) ||
		   CASE WHEN NOT x.indisvalid THEN ' (INVALID)' ELSE '' END ||
		   CASE WHEN x.indisclustered THEN ' (CLUSTER)' ELSE '' END ||
		   COALESCE(' -- ' || pg_catalog.obj_description(x.indexrelid, 'pg_class'), '')
	  FROM rel r
	  JOIN pg_catalog.pg_index x ON x.indrelid = r.reloid
	  JOIN pg_catalog.pg_class ic ON ic.oid = x.indexrelid
	UNION ALL
	SELECT r.obj, 'trigger ' || pg_catalog.quote_ident(g.tgname), 0,
		   pg_catalog.pg_get_triggerdef(g.oid) ||
		   CASE g.tgenabled WHEN 'O' THEN '' WHEN 'D' THEN ' (DISABLED)'
				WHEN 'R' THEN ' (ENABLE REPLICA)' WHEN 'A' THEN ' (ENABLE ALWAYS)' END ||
		   COALESCE(' -- ' || pg_catalog.obj_description(g.oid, 'pg_trigger'), '')
	  FROM rel r JOIN pg_catalog.pg_trigger g ON g.tgrelid = r.reloid
	 WHERE NOT g.tgisinternal
	UNION ALL
	SELECT r.obj, 'policy ' || pg_catalog.quote_ident(pol.polname), 0,
		   CASE WHEN pol.polpermissive THEN 'PERMISSIVE' ELSE 'RESTRICTIVE' END ||
		   ' FOR ' || CASE pol.polcmd WHEN 'r' THEN 'SELECT' WHEN 'a' THEN 'INSERT'
							 WHEN 'w' THEN 'UPDATE' WHEN 'd' THEN 'DELETE' ELSE 'ALL' END ||
		   ' TO ' || (SELECT pg_catalog.string_agg(CASE WHEN u.r = 0 THEN 'PUBLIC'
														ELSE pg_catalog.quote_ident(pg_catalog.pg_get_userbyid(u.r)) END,
												   ', ' ORDER BY 1)
						FROM pg_catalog.unnest(pol.polroles) AS u(r)) ||
		   COALESCE(' USING (' || pg_catalog.pg_get_expr(pol.polqual, pol.polrelid) || ')', '') ||
		   COALESCE(' WITH CHECK (' || pg_catalog.pg_get_expr(pol.polwithcheck, pol.polrelid) || ')', '') ||
		   COALESCE(' -- ' || pg_catalog.obj_description(pol.oid, 'pg_policy'), '')
	  FROM rel r JOIN pg_catalog.pg_policy pol ON pol.polrelid = r.reloid
	UNION ALL
	SELECT r.obj, 'rule ' || pg_catalog.quote_ident(ru.rulename), 0,
		   pg_catalog.replace(pg_catalog.pg_get_ruledef(ru.oid), E'\n', ' ')
	  FROM rel r JOIN pg_catalog.pg_rewrite ru ON ru.ev_class = r.reloid
	 WHERE ru.rulename <> '_RETURN'
	UNION ALL
	SELECT r.obj, 'statistics ' || pg_catalog.quote_ident(st.stxname), 0,
		   pg_catalog.pg_get_statisticsobjdef(st.oid)
	  FROM rel r JOIN pg_catalog.pg_statistic_ext st ON st.stxrelid = r.reloid
	UNION ALL
	-- sequences
	SELECT r.obj, 'sequence', 0,
		   'AS ' || pg_catalog.format_type(s.seqtypid, NULL) ||
		   ' START ' || s.seqstart::text || ' INCREMENT ' || s.seqincrement::text ||
		   ' MINVALUE ' || s.seqmin::text || ' MAXVALUE ' || s.seqmax::text ||
		   ' CACHE ' || s.seqcache::text || CASE WHEN s.seqcycle THEN ' CYCLE' ELSE ' NO CYCLE' END
	  FROM rel r JOIN pg_catalog.pg_sequence s ON s.seqrelid = r.reloid
	UNION ALL
	SELECT r.obj, 'owned by', 0,
		   d.refobjid::pg_catalog.regclass::text || '.' || pg_catalog.quote_ident(a.attname) ||
		   CASE d.deptype WHEN 'i' THEN ' (identity)' ELSE '' END
	  FROM rel r
	  JOIN pg_catalog.pg_depend d ON d.classid = 'pg_catalog.pg_class'::pg_catalog.regclass
	   AND d.objid = r.reloid AND d.refclassid = 'pg_catalog.pg_class'::pg_catalog.regclass
	   AND d.deptype IN ('a', 'i') AND d.refobjsubid > 0
	  JOIN pg_catalog.pg_attribute a ON a.attrelid = d.refobjid AND a.attnum = d.refobjsubid
	 WHERE r.relkind = 'S'
	UNION ALL
	-- types (enums, domains, composites, ranges)
	SELECT m.obj, 'type', 0,
		   CASE t.typtype WHEN 'e' THEN 'enum (' ||
				(SELECT pg_catalog.string_agg(pg_catalog.quote_literal(e.enumlabel), ', ' ORDER BY e.enumsortorder)
				   FROM pg_catalog.pg_enum e WHERE e.enumtypid = t.oid) || ')'
				WHEN 'd' THEN 'domain over ' || pg_catalog.format_type(t.typbasetype, t.typtypmod) ||
				CASE WHEN t.typnotnull THEN ' NOT NULL' ELSE '' END ||
				COALESCE(' DEFAULT ' || t.typdefault, '') ||
				COALESCE((SELECT ' ' || pg_catalog.string_agg(pg_catalog.quote_ident(k.conname) || ' ' ||
														   pg_catalog.pg_get_constraintdef(k.oid), ', ' ORDER BY k.conname)
							FROM pg_catalog.pg_constraint k WHERE k.contypid = t.oid), '')
				WHEN 'c' THEN 'composite (' ||
				(SELECT pg_catalog.string_agg(pg_catalog.quote_ident(a.attname) || ' ' ||
											  pg_catalog.format_type(a.atttypid, a.atttypmod), ', ' ORDER BY a.attnum)
				   FROM pg_catalog.pg_attribute a
				  WHERE a.attrelid = t.typrelid AND a.attnum > 0 AND NOT a.attisdropped) || ')'
				ELSE 'typtype ' || t.typtype::text END ||
		   ', owner ' || pg_catalog.pg_get_userbyid(t.typowner)::text ||
		   ', privileges ' || COALESCE(t.typacl::text, 'default')
	  FROM member m JOIN pg_catalog.pg_type t ON t.oid = m.objid
	 WHERE m.classid = 'pg_catalog.pg_type'::pg_catalog.regclass
	UNION ALL
	-- event triggers
	SELECT m.obj, 'event trigger', 0,
		   et.evtevent::text || ' ' || COALESCE(et.evttags::text, 'all') || ' EXECUTE ' ||
		   et.evtfoid::pg_catalog.regprocedure::text || ' enabled ' || et.evtenabled::text
	  FROM member m JOIN pg_catalog.pg_event_trigger et ON et.oid = m.objid
	 WHERE m.classid = 'pg_catalog.pg_event_trigger'::pg_catalog.regclass
)
SELECT l.obj || ' | ' || l.prop || ' | ' ||
	   COALESCE(pg_catalog.replace(pg_catalog.replace(l.val, E'\\', E'\\\\'), E'\n', E'\\n'), 'NULL')
  FROM line l
 ORDER BY l.obj COLLATE "C", l.prop COLLATE "C", l.seq;
