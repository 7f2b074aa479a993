import { parseMethodResponse } from './method-response.js';
import { parseRetryAfter } from './retry-policy.js';
import { truncate } from './text.js';

/** What the status line and headers of a response say, as received (nothing trusted). */
export interface ResponseHead {
  status: number;
  reason?: string;
  contentEncoding?: string;
  contentLength?: string;
  retryAfter?: string;
}

/** The outcome of one answered attempt. Every string in it is cut to MAX_TEXT. */
export interface ResponseVerdict {
  outcome: 'Delivered' | 'Failed';
  httpStatus: number;
  faultCode?: number;
  faultString?: string;
  /** Why it failed; on a Delivered verdict, why the body did not decide (the status did). */
  error?: string;
  /** From a Retry-After header on HTTP 429 or 503. */
  retryAfterMs?: number;
}

export type HeadVerdict = { kind: 'judged'; verdict: ResponseVerdict } | { kind: 'read-body' };

/** Retry-After is a number or a date: anything longer is not one, and is ignored. */
const MAX_RETRY_AFTER_CHARS = 64;

/**
 * The rule for a response, before its body: a status outside 2xx fails the
 * attempt and its body is not read; a compressed body (we send no
 * Accept-Encoding) is not read and the 2xx status decides; a Content-Length
 * over `maxBodyBytes` fails it at once. Otherwise the body is read, at most
 * `maxBodyBytes` of it (see judgeBody and bodyTooLarge).
 */
export function judgeHead(head: ResponseHead, now: number, maxBodyBytes: number): HeadVerdict {
  const httpStatus = head.status;
  if (httpStatus < 200 || httpStatus > 299) {
    const reason = head.reason ? ` ${head.reason}` : '';
    const failed: ResponseVerdict = { outcome: 'Failed', httpStatus, error: truncate(`HTTP ${httpStatus}${reason}`) };
    if (httpStatus === 429 || httpStatus === 503) {
      const retryAfter = head.retryAfter;
      const retryAfterMs = retryAfter !== undefined && retryAfter.length <= MAX_RETRY_AFTER_CHARS ? parseRetryAfter(retryAfter, now) : undefined;
      if (retryAfterMs !== undefined) failed.retryAfterMs = retryAfterMs;
    }
    return { kind: 'judged', verdict: failed };
  }
  const encoding = head.contentEncoding?.trim().toLowerCase();
  if (encoding && encoding !== 'identity') {
    return { kind: 'judged', verdict: statusDecides(httpStatus, `body not read: Content-Encoding ${head.contentEncoding}`) };
  }
  const length = head.contentLength === undefined ? NaN : Number(head.contentLength);
  if (length > maxBodyBytes) return { kind: 'judged', verdict: bodyTooLarge(httpStatus, maxBodyBytes) };
  return { kind: 'read-body' };
}

/** A 2xx body, read whole: a `<fault>` fails the attempt; a result delivers; a body that cannot be read leaves the status to decide. */
export function judgeBody(httpStatus: number, body: Uint8Array): ResponseVerdict {
  const parsed = parseMethodResponse(body);
  switch (parsed.kind) {
    case 'success':
      return { outcome: 'Delivered', httpStatus };
    case 'unparsable':
      return statusDecides(httpStatus, `body not judged: ${parsed.reason}`);
    case 'fault': {
      const verdict: ResponseVerdict = { outcome: 'Failed', httpStatus, faultString: truncate(parsed.faultString) };
      if (parsed.faultCode !== undefined) verdict.faultCode = parsed.faultCode;
      return verdict;
    }
  }
}

/** A 2xx body longer than the bound: it was not read to its end, so nothing says the call succeeded. */
export function bodyTooLarge(httpStatus: number, maxBodyBytes: number): ResponseVerdict {
  return { outcome: 'Failed', httpStatus, error: `response body over ${maxBodyBytes} bytes (--max-response-bytes): not read, connection closed` };
}

function statusDecides(httpStatus: number, why: string): ResponseVerdict {
  return { outcome: 'Delivered', httpStatus, error: truncate(`${why}; HTTP ${httpStatus} decides`) };
}
