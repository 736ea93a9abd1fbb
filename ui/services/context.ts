/** Services shared through @lit/context: the API client and the live status feed. */
import { createContext } from '@lit/context';
import type { Api } from './api.js';
import type { StatusFeed } from './status-feed.js';

export const apiContext = createContext<Api>(Symbol('l4m-api'));
export const feedContext = createContext<StatusFeed>(Symbol('l4m-feed'));
