/** Configuration: one validated YAML document loaded into typed, complete, frozen objects. */
export { ConfigError, defaultConfigPath, formatPath, loadConfig, parseConfig } from './loader.js';
export { isDemoPassword, isLoopback } from './checks.js';
export {
  CdrSchema,
  ConfigSchema,
  DIGEST_ALGORITHMS,
  LOG_LEVELS,
  TRANSPORTS,
  type CdrConfig,
  type Config,
  type ListenConfig,
  type LogConfig,
  type LogLevel,
  type MediaConfig,
  type NodeConfig,
  type RegistrarConfig,
  type SecurityConfig,
  type SipConfig,
  type StorageConfig,
  type TimersConfig,
  type Transport,
  type UserConfig,
} from './schema.js';
