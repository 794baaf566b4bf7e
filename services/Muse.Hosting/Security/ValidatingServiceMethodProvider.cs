using System.Reflection;
using Google.Protobuf;
using Grpc.AspNetCore.Server.Model;
using Grpc.Core;
using Microsoft.AspNetCore.Routing;

namespace Muse.Hosting.Security;

/// <summary>
/// Binds every gRPC service of the process (in place of grpc-dotnet's own binder) with request marshallers that turn
/// a message that is not valid protobuf — truncated, a bad tag, a string that is not UTF-8 — into
/// <see cref="StatusCode.InvalidArgument"/> saying so. grpc-dotnet reads a unary or server-streaming request before any
/// interceptor runs and reports such a failure as UNKNOWN "Exception was thrown by handler"; the marshaller is the one
/// place that sees every message of every call type.
/// </summary>
/// <remarks>
/// Registered by <see cref="MuseHostingExtensions.AddMuseGrpc"/>, which removes grpc-dotnet's binder (a later
/// <c>AddGrpc()</c> would add it back; <see cref="MuseHostingExtensions.MapMuseDefaults"/> refuses to start then).
/// Method discovery follows grpc-dotnet's binder: the <see cref="BindServiceMethodAttribute"/> of the generated base.
/// </remarks>
internal sealed class ValidatingServiceMethodProvider<TService> : IServiceMethodProvider<TService>
    where TService : class
{
    public void OnServiceMethodDiscovery(ServiceMethodProviderContext<TService> context)
    {
        for (var type = typeof(TService); type is not null; type = type.BaseType)
        {
            if (type.GetCustomAttribute<BindServiceMethodAttribute>() is { } bind)
            {
                var method = bind.BindType.GetMethod(
                    bind.BindMethodName, BindingFlags.Public | BindingFlags.Static, binder: null, [typeof(ServiceBinderBase), type], modifiers: null)
                    ?? throw new InvalidOperationException($"{bind.BindType}.{bind.BindMethodName} not found for {typeof(TService)}.");
                // The generated base (the bind method's parameter), whose virtual methods the service overrides.
                method.Invoke(null, [new Binder(context, method.GetParameters()[1].ParameterType), null]);
                return;
            }
        }
    }

    /// <summary>The request marshaller of <paramref name="method"/>, failing with INVALID_ARGUMENT on bad input.</summary>
    internal static Method<TRequest, TResponse> Validating<TRequest, TResponse>(Method<TRequest, TResponse> method)
        where TRequest : class
        where TResponse : class
    {
        var inner = method.RequestMarshaller;
        var name = typeof(TRequest).Name;
        var marshaller = new Marshaller<TRequest>(inner.ContextualSerializer, context =>
        {
            try
            {
                return inner.ContextualDeserializer(context);
            }
            catch (InvalidProtocolBufferException ex)
            {
                throw new RpcException(new Status(StatusCode.InvalidArgument,
                    $"The request is not a valid {name} message ({context.PayloadLength} bytes): {BoundedText.Truncate(ex.Message, 200)}"));
            }
        });
        return new Method<TRequest, TResponse>(method.Type, method.ServiceName, method.Name, marshaller, method.ResponseMarshaller);
    }

    private sealed class Binder(ServiceMethodProviderContext<TService> context, Type declaringType) : ServiceBinderBase
    {
        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, UnaryServerMethod<TRequest, TResponse>? handler)
        {
            var (invoker, metadata) = Find<UnaryServerMethod<TService, TRequest, TResponse>>(method.Name, typeof(TRequest), typeof(ServerCallContext));
            context.AddUnaryMethod(Validating(method), metadata, invoker);
        }

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ServerStreamingServerMethod<TRequest, TResponse>? handler)
        {
            var (invoker, metadata) = Find<ServerStreamingServerMethod<TService, TRequest, TResponse>>(
                method.Name, typeof(TRequest), typeof(IServerStreamWriter<TResponse>), typeof(ServerCallContext));
            context.AddServerStreamingMethod(Validating(method), metadata, invoker);
        }

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, ClientStreamingServerMethod<TRequest, TResponse>? handler)
        {
            var (invoker, metadata) = Find<ClientStreamingServerMethod<TService, TRequest, TResponse>>(
                method.Name, typeof(IAsyncStreamReader<TRequest>), typeof(ServerCallContext));
            context.AddClientStreamingMethod(Validating(method), metadata, invoker);
        }

        public override void AddMethod<TRequest, TResponse>(Method<TRequest, TResponse> method, DuplexStreamingServerMethod<TRequest, TResponse>? handler)
        {
            var (invoker, metadata) = Find<DuplexStreamingServerMethod<TService, TRequest, TResponse>>(
                method.Name, typeof(IAsyncStreamReader<TRequest>), typeof(IServerStreamWriter<TResponse>), typeof(ServerCallContext));
            context.AddDuplexStreamingMethod(Validating(method), metadata, invoker);
        }

        // The override of the generated base's virtual method (or the base's own, which answers UNIMPLEMENTED), as an
        // open-instance delegate, with the attributes of the type and then the method as endpoint metadata.
        private (TDelegate Invoker, List<object> Metadata) Find<TDelegate>(string name, params Type[] parameters)
            where TDelegate : Delegate
        {
            MethodInfo? found = null;
            for (var type = typeof(TService); type is not null && found is null; type = type.BaseType)
            {
                var candidate = type.GetMethod(name, BindingFlags.Public | BindingFlags.Instance, binder: null, parameters, modifiers: null);
                if (candidate is null)
                {
                    break;
                }

                if (candidate.IsVirtual && candidate.GetBaseDefinition().DeclaringType == declaringType)
                {
                    found = candidate;
                }
            }

            if (found is null)
            {
                throw new InvalidOperationException($"Could not find '{name}' on {typeof(TService)}.");
            }

            var metadata = new List<object>();
            metadata.AddRange(typeof(TService).GetCustomAttributes(inherit: true));
            metadata.AddRange(found.GetCustomAttributes(inherit: true));
            metadata.Add(new HttpMethodMetadata(["POST"], acceptCorsPreflight: true));
            return ((TDelegate)Delegate.CreateDelegate(typeof(TDelegate), found), metadata);
        }
    }
}
