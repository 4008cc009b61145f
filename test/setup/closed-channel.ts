/**
 * A call retried after its channel was closed ends as cancelled instead of crashing the run.
 *
 * The Temporal client's gRPC retry interceptor retries an UNAVAILABLE call from a timer; when a
 * test has closed its connection (or torn down its test server) in the meantime, grpc-js throws
 * "Channel has been shut down" from inside that timer, an uncaught exception that takes down the
 * whole Jest process, not the test that left the call behind. Here such a call fails with
 * CANCELLED, which the interceptor does not retry, and the caller's own promise rejects.
 * Tests only: production processes close their connections once, at exit.
 */
import { Metadata, status } from '@grpc/grpc-js';
import { InternalChannel } from '@grpc/grpc-js/build/src/internal-channel';
import { ConnectivityState } from '@grpc/grpc-js/build/src/connectivity-state';
import type { Call, InterceptingListener } from '@grpc/grpc-js/build/src/call-interface';

const createCall = InternalChannel.prototype.createCall;

function cancelledCall(): Call {
  return {
    start(_metadata: Metadata, listener: InterceptingListener) {
      setImmediate(() =>
        listener.onReceiveStatus({
          code: status.CANCELLED,
          details: 'Channel has been shut down',
          metadata: new Metadata(),
        }),
      );
    },
    cancelWithStatus: () => undefined,
    getPeer: () => 'closed channel',
    sendMessageWithContext: () => undefined,
    startRead: () => undefined,
    halfClose: () => undefined,
    getCallNumber: () => 0,
    setCredentials: () => undefined,
    getAuthContext: () => null,
  };
}

InternalChannel.prototype.createCall = function (this: InternalChannel, ...args) {
  if (this.getConnectivityState(false) === ConnectivityState.SHUTDOWN) return cancelledCall();
  return createCall.apply(this, args);
};
