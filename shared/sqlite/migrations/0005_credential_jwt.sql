-- A credential's VC-JWT signed at issuance, its payload detached ("<header>..<signature>"):
-- the public route rebuilds the payload from jwt (the stored document) and signs nothing.
-- Empty for credentials issued before it was stored.
ALTER TABLE credentials ADD COLUMN jwt_detached TEXT NOT NULL DEFAULT '';
