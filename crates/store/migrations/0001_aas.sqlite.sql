-- The Asset Administration Shell repository, registries and discovery.
-- One table per kind of record: identifier, the record's JSON as received
-- (after validation), a version that every change increments (optimistic
-- concurrency), and the fields that lists filter on. Identifiers sort
-- byte-wise (SQLite compares text byte-wise already) so that cursor paging is the same on every engine.
CREATE TABLE aas_shells (
    id TEXT PRIMARY KEY,
    id_short TEXT,
    json TEXT NOT NULL,
    version BIGINT NOT NULL
);
CREATE INDEX aas_shells_id_short ON aas_shells (id_short, id);

CREATE TABLE aas_submodels (
    id TEXT PRIMARY KEY,
    id_short TEXT,
    json TEXT NOT NULL,
    version BIGINT NOT NULL
);
CREATE INDEX aas_submodels_id_short ON aas_submodels (id_short, id);

CREATE TABLE aas_concept_descriptions (
    id TEXT PRIMARY KEY,
    id_short TEXT,
    json TEXT NOT NULL,
    version BIGINT NOT NULL
);
CREATE INDEX aas_concept_descriptions_id_short ON aas_concept_descriptions (id_short, id);

CREATE TABLE aas_shell_descriptors (
    id TEXT PRIMARY KEY,
    id_short TEXT,
    asset_kind TEXT,
    asset_type TEXT,
    json TEXT NOT NULL,
    version BIGINT NOT NULL
);
CREATE INDEX aas_shell_descriptors_asset_type ON aas_shell_descriptors (asset_type, id);
CREATE INDEX aas_shell_descriptors_asset_kind ON aas_shell_descriptors (asset_kind, id);

CREATE TABLE aas_submodel_descriptors (
    id TEXT PRIMARY KEY,
    id_short TEXT,
    json TEXT NOT NULL,
    version BIGINT NOT NULL
);

-- Discovery links of a shell id (the asset ids it is found by): those of a
-- stored shell's asset information and those added explicitly.
CREATE TABLE aas_asset_links (
    id TEXT PRIMARY KEY,
    id_short TEXT,
    json TEXT NOT NULL,
    version BIGINT NOT NULL
);

-- Asset ids by owner: kind 'global' (a shell's globalAssetId), 'specific'
-- (its specificAssetIds) or 'link' (a discovery link).
CREATE TABLE aas_asset_ids (
    kind TEXT NOT NULL,
    owner TEXT NOT NULL,
    name TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX aas_asset_ids_lookup ON aas_asset_ids (name, value, kind);
CREATE INDEX aas_asset_ids_owner ON aas_asset_ids (owner, kind);

-- Semantic id key values of submodels ('submodel') and submodel descriptors
-- ('submodel_descriptor').
CREATE TABLE aas_semantic_ids (
    kind TEXT NOT NULL,
    owner TEXT NOT NULL,
    value TEXT NOT NULL
);
CREATE INDEX aas_semantic_ids_lookup ON aas_semantic_ids (value, kind);
CREATE INDEX aas_semantic_ids_owner ON aas_semantic_ids (owner, kind);

-- Which shells reference which submodels.
CREATE TABLE aas_submodel_refs (
    shell_id TEXT NOT NULL,
    submodel_id TEXT NOT NULL
);
CREATE INDEX aas_submodel_refs_submodel ON aas_submodel_refs (submodel_id);
CREATE INDEX aas_submodel_refs_shell ON aas_submodel_refs (shell_id);
