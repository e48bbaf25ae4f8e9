/**
 * Where the third-party peers' files live in this repository: sipp scenarios, the Kamailio
 * configuration and the RFC 4475 vectors. Tests and benchmarks take their paths from here.
 */
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';

/** The repository's root folder (also when compiled into dist/test/helpers/). */
export const ROOT = fileURLToPath(new URL('../../', import.meta.url)).replace(/dist\/$/, '');
/** sipp scenarios (`test/peers/sipp/*.xml`). */
export const SCENARIOS = join(ROOT, 'test/peers/sipp');
/** The Kamailio registrar / proxy / carrier configuration used by tests and benchmarks. */
export const KAMAILIO_CFG = join(ROOT, 'test/peers/kamailio/kamailio.cfg');
/** The RFC 4475 torture messages and their manifest. */
export const RFC4475 = join(ROOT, 'test/vectors/rfc4475');

/** The path of a sipp scenario by file name (`scenario('uas_answer.xml')`). */
export const scenario = (name: string): string => join(SCENARIOS, name);
