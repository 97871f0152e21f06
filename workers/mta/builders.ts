// Compiled messages of the deliveries a process sends, shared by first attempts (dispatch) and retries.
import type { DispatchDelivery } from '../../db/dispatch';
import { compileMessage, type MessageBuilder } from '../../shared/message';

/** Compiled messages of the deliveries this process is sending, so a template is parsed once per delivery. */
export class BuilderCache {
  private readonly builders = new Map<string, MessageBuilder>();
  get(delivery: DispatchDelivery): MessageBuilder {
    let builder = this.builders.get(delivery.id);
    if (!builder) {
      if (this.builders.size >= 100) this.builders.delete(this.builders.keys().next().value!);
      builder = compileMessage(delivery);
      this.builders.set(delivery.id, builder);
    }
    return builder;
  }
}
