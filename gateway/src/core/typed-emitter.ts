/**
 * A synchronous event emitter whose event names and argument tuples are checked by the compiler.
 * Long-lived objects (legs, calls) publish their events through one, so a listener cannot
 * subscribe to an event that does not exist or misread its arguments.
 *
 * A listener that throws does not stop the others and does not unwind into the emitter's owner
 * (a leg in the middle of a state change): the error goes to `onListenerError`, which the owner
 * wires to its logger.
 */
export type EventMap = Record<string, readonly unknown[]>;

export type Listener<A extends readonly unknown[]> = (...args: A) => void;

export class TypedEmitter<E extends EventMap> {
  private readonly listeners = new Map<keyof E, Set<Listener<E[keyof E]>>>();

  constructor(private readonly onListenerError: (event: keyof E, e: unknown) => void) {}

  on<K extends keyof E>(event: K, fn: Listener<E[K]>): () => void {
    let set = this.listeners.get(event);
    if (!set) {
      set = new Set();
      this.listeners.set(event, set);
    }
    set.add(fn as Listener<E[keyof E]>);
    return () => this.off(event, fn);
  }

  once<K extends keyof E>(event: K, fn: Listener<E[K]>): () => void {
    const off = this.on(event, (...args: E[K]) => {
      off();
      fn(...args);
    });
    return off;
  }

  off<K extends keyof E>(event: K, fn: Listener<E[K]>): void {
    this.listeners.get(event)?.delete(fn as Listener<E[keyof E]>);
  }

  emit<K extends keyof E>(event: K, ...args: E[K]): void {
    const set = this.listeners.get(event);
    if (!set) return;
    // A copy: listeners may unsubscribe (or subscribe others) while the event is delivered.
    for (const fn of [...set]) {
      try {
        (fn as Listener<E[K]>)(...args);
      } catch (e) {
        this.onListenerError(event, e);
      }
    }
  }

  listenerCount(event: keyof E): number {
    return this.listeners.get(event)?.size ?? 0;
  }

  /** Drops every listener (the owner's `close()`). */
  clear(): void {
    this.listeners.clear();
  }
}
