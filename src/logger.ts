import winston from 'winston';

export type { Logger } from 'winston';

/** Structured logs: one JSON object per line on stdout, with a timestamp and a level. */
export function createLogger(level: string): winston.Logger {
  return winston.createLogger({
    level,
    format: winston.format.combine(winston.format.timestamp(), winston.format.errors({ stack: false }), winston.format.json()),
    transports: [new winston.transports.Console()],
  });
}
