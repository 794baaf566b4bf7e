using System.Text.Json;
using k8s.Models;
using Muse.Repository;

namespace Muse.Deploy.Tests;

/// <summary>What the API schemas cannot see: whether the rendered objects fit each other and the shipped models.</summary>
public sealed class CrossCheckTests
{
    [KubectlTheory]
    [MemberData(nameof(Manifests.Renderings), MemberType = typeof(Manifests))]
    public async Task Services_EachSelectsAWorkloadsPodsOnANamedContainerPort(string rendering)
    {
        var objects = await Manifests.LoadAsync(rendering);

        foreach (var service in objects.OfType<V1Service>())
        {
            var selected = objects.Deployments()
                .Where(d => service.Spec.Selector.All(s => d.Spec.Template.Metadata.Labels.TryGetValue(s.Key, out var v) && v == s.Value))
                .ToList();
            var deployment = Assert.Single(selected);
            Assert.All(service.Spec.Ports, port =>
                Assert.Contains(deployment.Container().Ports, p => p.Name == port.TargetPort.Value && p.ContainerPort == port.Port));
        }
    }

    [KubectlTheory]
    [MemberData(nameof(Manifests.Renderings), MemberType = typeof(Manifests))]
    public async Task Probes_EveryPortIsAContainerPort_GrpcProbesAskLiveAndReady(string rendering)
    {
        var objects = await Manifests.LoadAsync(rendering);

        foreach (var deployment in objects.Deployments())
        {
            var container = deployment.Container();
            var ports = container.Ports.Select(p => p.ContainerPort).ToHashSet();
            V1Probe[] probes = [container.StartupProbe, container.LivenessProbe, container.ReadinessProbe];
            Assert.All(probes, probe => Assert.Contains(probe.Grpc?.Port ?? int.Parse(probe.TcpSocket.Port.Value), ports));
            if (container.ReadinessProbe.Grpc is not null)
            {
                Assert.Equal("live", container.LivenessProbe.Grpc.Service);
                Assert.Equal("ready", container.ReadinessProbe.Grpc.Service);
                Assert.Equal("ready", container.StartupProbe.Grpc.Service);
            }
        }
    }

    [KubectlTheory]
    [MemberData(nameof(Manifests.Renderings), MemberType = typeof(Manifests))]
    public async Task Autoscalers_EachTargetsAnExistingDeploymentOnCpu(string rendering)
    {
        var objects = await Manifests.LoadAsync(rendering);
        var deployments = objects.Deployments().Select(d => d.Metadata.Name).ToHashSet();

        Assert.All(objects.OfType<V2HorizontalPodAutoscaler>(), hpa =>
        {
            Assert.Equal(("apps/v1", "Deployment"), (hpa.Spec.ScaleTargetRef.ApiVersion, hpa.Spec.ScaleTargetRef.Kind));
            Assert.Contains(hpa.Spec.ScaleTargetRef.Name, deployments);
            Assert.InRange(hpa.Spec.MinReplicas ?? 1, 1, hpa.Spec.MaxReplicas);
            Assert.Equal("cpu", Assert.Single(hpa.Spec.Metrics).Resource.Name);
        });
    }

    [KubectlTheory]
    [MemberData(nameof(Manifests.Renderings), MemberType = typeof(Manifests))]
    public async Task Pods_NonRootWithLimitsAndGracefulShutdown(string rendering)
    {
        var objects = await Manifests.LoadAsync(rendering);

        foreach (var deployment in objects.Deployments())
        {
            var pod = deployment.Spec.Template.Spec;
            var container = deployment.Container();
            Assert.True(pod.SecurityContext.RunAsNonRoot);
            Assert.NotEqual(0, pod.SecurityContext.RunAsUser);
            Assert.All(pod.InitContainers.Append(container), c =>
            {
                Assert.False(c.SecurityContext.AllowPrivilegeEscalation);
                Assert.True(c.SecurityContext.ReadOnlyRootFilesystem);
                Assert.Equal(["ALL"], c.SecurityContext.Capabilities.Drop);
                Assert.True(c.Resources.Requests.ContainsKey("cpu") && c.Resources.Requests.ContainsKey("memory"));
                Assert.True(c.Resources.Limits.ContainsKey("cpu") && c.Resources.Limits.ContainsKey("memory"));
            });
            // The preStop sleep, then the host's drain of in-flight calls, must fit in the grace period.
            var drain = int.Parse(deployment.Env("DOTNET_shutdownTimeoutSeconds")!);
            Assert.True(container.Lifecycle.PreStop.Sleep.Seconds + drain < pod.TerminationGracePeriodSeconds,
                $"{deployment.Metadata.Name}: preStop + shutdown timeout exceed the grace period");
        }
    }

    [KubectlTheory]
    [MemberData(nameof(Manifests.Renderings), MemberType = typeof(Manifests))]
    public async Task Orchestrator_ReachesEveryStageThroughHeadlessServices(string rendering)
    {
        var objects = await Manifests.LoadAsync(rendering);
        var orchestrator = objects.Deployments().Single(d => d.Metadata.Name == "muse-orchestrator");
        var services = objects.OfType<V1Service>().ToDictionary(s => s.Metadata.Name);

        foreach (var stage in new[] { Stages.TextEncoder, Stages.ImageTokenizer, Stages.Base, Stages.SuperResolution })
        {
            var endpoint = orchestrator.Env($"Muse__Stages__{stage}__Endpoints__0");
            var match = System.Text.RegularExpressions.Regex.Match(endpoint ?? "", "^dns:///([a-z0-9-]+):([0-9]+)$");
            Assert.True(match.Success, $"{stage}: '{endpoint}' is not dns:///name:port");
            var service = services[match.Groups[1].Value];
            Assert.Equal("None", service.Spec.ClusterIP);
            Assert.Contains(service.Spec.Ports, p => p.Port == int.Parse(match.Groups[2].Value));
        }

        Assert.Null(orchestrator.Env("Muse__Stages__base__Endpoints__1"));
        Assert.NotEqual("None", services["muse-orchestrator"].Spec.ClusterIP);
    }

    [KubectlTheory]
    [MemberData(nameof(Manifests.Renderings), MemberType = typeof(Manifests))]
    public async Task Orchestrator_PipelinesFromTheConfigMapFolder_WebPortAndApiKeys(string rendering)
    {
        var objects = await Manifests.LoadAsync(rendering);
        var orchestrator = objects.Deployments().Single(d => d.Metadata.Name == "muse-orchestrator");
        var mounts = orchestrator.Container().VolumeMounts;
        var volumes = orchestrator.Spec.Template.Spec.Volumes.ToDictionary(v => v.Name);

        // A folder mount, never subPath: the kubelet updates only folder mounts of a ConfigMap (by its ..data swap).
        var pipelines = orchestrator.Env("Muse__Pipelines")!;
        var pipelinesMount = Assert.Single(mounts, m => m.MountPath == Path.GetDirectoryName(pipelines));
        Assert.Null(pipelinesMount.SubPath);
        var configMap = volumes[pipelinesMount.Name].ConfigMap.Name;
        Assert.Contains(objects.OfType<V1ConfigMap>(), c => c.Metadata.Name == configMap && c.Data.ContainsKey(Path.GetFileName(pipelines)));

        var keys = orchestrator.Env("Muse__Security__ApiKeysFile")!;
        var keysMount = Assert.Single(mounts, m => m.MountPath == Path.GetDirectoryName(keys));
        var secret = volumes[keysMount.Name].Secret;
        Assert.Equal("muse-api-keys", secret.SecretName);
        Assert.Contains(secret.Items, i => i.Key == "keys.json" && i.Path == Path.GetFileName(keys));

        Assert.Equal("8081", orchestrator.Env("Muse__Web__Port"));
        Assert.Contains(orchestrator.Container().Ports, p => p is { Name: "http", ContainerPort: 8081 });
    }

    [KubectlTheory]
    [MemberData(nameof(Manifests.Renderings), MemberType = typeof(Manifests))]
    public async Task EveryProcess_InternalTokenFromItsSecret(string rendering)
    {
        var objects = await Manifests.LoadAsync(rendering);

        Assert.All(objects.Deployments(), deployment =>
        {
            var token = Assert.Single(deployment.Container().Env, e => e.Name == "Muse__Security__InternalToken");
            Assert.Equal(("muse-internal-token", "token"), (token.ValueFrom.SecretKeyRef.Name, token.ValueFrom.SecretKeyRef.Key));
        });
    }

    [KubectlTheory]
    [MemberData(nameof(Manifests.Renderings), MemberType = typeof(Manifests))]
    public async Task Models_TrainedOnly_EveryStageLoadsExactlyWhatThePipelinesRoute(string rendering)
    {
        var yaml = await Manifests.RenderAsync(rendering);
        var objects = await Manifests.LoadAsync(rendering);
        var pipelines = PipelinesOf(objects);

        Assert.DoesNotContain("muse-random", yaml, StringComparison.Ordinal);
        foreach (var deployment in objects.Deployments().Where(d => d.IsModelStage()))
        {
            var loaded = deployment.Container().Env.Where(e => e.Name.StartsWith("Muse__Inference__Models__", StringComparison.Ordinal))
                .Select(e => e.Value).ToList();
            Assert.NotEmpty(loaded);
            var stage = ModelRepository.Find(Repo.ModelRepository, loaded[0]).Manifest.Stage;
            var routed = pipelines.Pipelines.Values.SelectMany(p => p.Stages[stage]).Select(m => m.Id).Distinct().Order();
            Assert.Equal(routed, loaded.Order());
            Assert.All(loaded, id => Assert.Equal(stage, ModelRepository.Find(Repo.ModelRepository, id).Manifest.Stage));
        }
    }

    [KubectlFact]
    public async Task PipelinesConfigMap_IsTheShippedFileWithoutFixtures()
    {
        var objects = await Manifests.LoadAsync("cpu");
        var shipped = JsonSerializer.Deserialize<PipelinesDocument>(
            File.ReadAllText(Path.Combine(Repo.Root, "models", "pipelines.json")), JsonSerializerOptions.Web)!;

        var deployed = PipelinesOf(objects);

        Assert.Equal(shipped.DefaultPipeline, deployed.DefaultPipeline);
        var expected = shipped.Pipelines.Where(p => !p.Key.StartsWith("muse-random", StringComparison.Ordinal)).ToList();
        Assert.True(
            JsonSerializer.Serialize(expected.ToDictionary()) == JsonSerializer.Serialize(deployed.Pipelines),
            "deploy/k8s/base/pipelines.json differs from models/pipelines.json: run deploy/k8s/sync-pipelines.sh");
    }

    [KubectlFact]
    public async Task CpuOverlay_NoGpu_CpuProviderOnly()
    {
        var objects = await Manifests.LoadAsync("cpu");

        Assert.All(objects.Deployments(), d => Assert.DoesNotContain("nvidia.com/gpu", d.Container().Resources.Limits.Keys));
        Assert.All(objects.Deployments(), d => Assert.DoesNotContain("-cuda", d.Container().Image, StringComparison.Ordinal));
        Assert.All(objects.Deployments().Where(d => d.IsModelStage()), d =>
        {
            Assert.Equal("Cpu", d.Env("Muse__Inference__Providers__0"));
            Assert.Null(d.Env("Muse__Inference__Providers__1"));
        });
    }

    [KubectlFact]
    public async Task GpuOverlay_EachModelStageGetsOneGpuTheCudaImageAndCudaFirst()
    {
        var objects = await Manifests.LoadAsync("gpu");
        var stages = objects.Deployments().Where(d => d.IsModelStage()).ToList();

        Assert.Equal(4, stages.Count);
        Assert.All(stages, d =>
        {
            Assert.Equal(new ResourceQuantity("1"), d.Container().Resources.Limits["nvidia.com/gpu"]);
            Assert.Matches("^musegrpc/[a-z-]+-cuda:", d.Container().Image);
            Assert.Equal("Cuda", d.Env("Muse__Inference__Providers__0"));
            Assert.Equal("Cpu", d.Env("Muse__Inference__Providers__1"));
            Assert.Contains(d.Spec.Template.Spec.Tolerations, t => t.Key == "nvidia.com/gpu");
        });
        var orchestrator = objects.Deployments().Single(d => !d.IsModelStage());
        Assert.DoesNotContain("nvidia.com/gpu", orchestrator.Container().Resources.Limits.Keys);
        Assert.Equal("musegrpc/orchestrator:latest", orchestrator.Container().Image);
    }

    [KubectlFact]
    public async Task TlsComponent_OrchestratorReadsTheCertificateSecret()
    {
        var objects = await Manifests.LoadAsync(Manifests.TlsRendering);
        var orchestrator = objects.Deployments().Single(d => d.Metadata.Name == "muse-orchestrator");

        var certificate = orchestrator.Env("Muse__Security__Tls__CertificateFile")!;
        Assert.Equal(Path.GetDirectoryName(certificate), Path.GetDirectoryName(orchestrator.Env("Muse__Security__Tls__KeyFile")));
        var mount = Assert.Single(orchestrator.Container().VolumeMounts, m => m.MountPath == Path.GetDirectoryName(certificate));
        Assert.Equal("muse-tls", orchestrator.Spec.Template.Spec.Volumes.Single(v => v.Name == mount.Name).Secret.SecretName);
        Assert.All(objects.Deployments().Where(d => d.IsModelStage()), d => Assert.Null(d.Env("Muse__Security__Tls__CertificateFile")));
    }

    internal static PipelinesDocument PipelinesOf(IEnumerable<object> objects) =>
        JsonSerializer.Deserialize<PipelinesDocument>(
            objects.OfType<V1ConfigMap>().Single(c => c.Metadata.Name == "muse-pipelines").Data["pipelines.json"],
            JsonSerializerOptions.Web)!;
}
