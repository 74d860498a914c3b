-- Change log triggers: every write the proxy's in-memory view depends on appends a row to
-- change_log in the same transaction, so a proxy (in this or another process) finds what
-- changed with one indexed read and reloads only that.
-- entity_id names what to reload: the session hash, agent id, vault id (for a vault's
-- services and credentials too), or the grant's actor id.

CREATE TRIGGER change_log_sessions_insert AFTER INSERT ON sessions BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('sessions', NEW.id);
END;
CREATE TRIGGER change_log_sessions_update AFTER UPDATE ON sessions BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('sessions', NEW.id);
END;
CREATE TRIGGER change_log_sessions_delete AFTER DELETE ON sessions BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('sessions', OLD.id);
END;

CREATE TRIGGER change_log_agents_insert AFTER INSERT ON agents BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('agents', NEW.id);
END;
CREATE TRIGGER change_log_agents_update AFTER UPDATE ON agents BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('agents', NEW.id);
END;
CREATE TRIGGER change_log_agents_delete AFTER DELETE ON agents BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('agents', OLD.id);
END;

CREATE TRIGGER change_log_vaults_insert AFTER INSERT ON vaults BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('vaults', NEW.id);
END;
CREATE TRIGGER change_log_vaults_update AFTER UPDATE ON vaults BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('vaults', NEW.id);
END;
CREATE TRIGGER change_log_vaults_delete AFTER DELETE ON vaults BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('vaults', OLD.id);
END;

CREATE TRIGGER change_log_broker_configs_insert AFTER INSERT ON broker_configs BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('broker_configs', NEW.vault_id);
END;
CREATE TRIGGER change_log_broker_configs_update AFTER UPDATE ON broker_configs BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('broker_configs', NEW.vault_id);
    INSERT INTO change_log (entity, entity_id) SELECT 'broker_configs', OLD.vault_id WHERE OLD.vault_id IS NOT NEW.vault_id;
END;
CREATE TRIGGER change_log_broker_configs_delete AFTER DELETE ON broker_configs BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('broker_configs', OLD.vault_id);
END;

CREATE TRIGGER change_log_credentials_insert AFTER INSERT ON credentials BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('credentials', NEW.vault_id);
END;
CREATE TRIGGER change_log_credentials_update AFTER UPDATE ON credentials BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('credentials', NEW.vault_id);
    INSERT INTO change_log (entity, entity_id) SELECT 'credentials', OLD.vault_id WHERE OLD.vault_id IS NOT NEW.vault_id;
END;
CREATE TRIGGER change_log_credentials_delete AFTER DELETE ON credentials BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('credentials', OLD.vault_id);
END;

CREATE TRIGGER change_log_vault_grants_insert AFTER INSERT ON vault_grants BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('vault_grants', NEW.actor_id);
END;
CREATE TRIGGER change_log_vault_grants_update AFTER UPDATE ON vault_grants BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('vault_grants', NEW.actor_id);
    INSERT INTO change_log (entity, entity_id) SELECT 'vault_grants', OLD.actor_id WHERE OLD.actor_id IS NOT NEW.actor_id;
END;
CREATE TRIGGER change_log_vault_grants_delete AFTER DELETE ON vault_grants BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('vault_grants', OLD.actor_id);
END;

CREATE TRIGGER change_log_users_insert AFTER INSERT ON users BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('users', NEW.id);
END;
CREATE TRIGGER change_log_users_update AFTER UPDATE ON users BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('users', NEW.id);
END;
CREATE TRIGGER change_log_users_delete AFTER DELETE ON users BEGIN
    INSERT INTO change_log (entity, entity_id) VALUES ('users', OLD.id);
END;
