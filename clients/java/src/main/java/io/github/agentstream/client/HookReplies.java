package io.github.agentstream.client;

import io.github.agentstream.v1.HookCancel;
import io.github.agentstream.v1.HookProceed;
import io.github.agentstream.v1.HookReply;
import io.github.agentstream.v1.HookSkip;

/** Replies a {@link HookHandler} returns. */
public final class HookReplies {
  private HookReplies() {}

  /** Lets the loop go on. */
  public static HookReply proceed() {
    return HookReply.newBuilder().setProceed(HookProceed.getDefaultInstance()).build();
  }

  /** Ends the run with ERROR_CODE_CANCELLED. */
  public static HookReply cancel(String reason) {
    return HookReply.newBuilder().setCancel(HookCancel.newBuilder().setReason(reason)).build();
  }

  /** Answers a tool call without running it; the model reads the reason as its result. */
  public static HookReply skip(String reason) {
    return HookReply.newBuilder().setSkip(HookSkip.newBuilder().setReason(reason)).build();
  }
}
