import { App, Chart, YamlOutputType } from 'cdk8s';
import * as kplus from 'cdk8s-plus-27';

// The cdk8s CLI sets CDK8S_OUTDIR; tests set it to a scratch folder.
const app = new App({ yamlOutputType: YamlOutputType.FILE_PER_CHART });

const namespace = new Chart(app, '00-namespace');
new kplus.Namespace(namespace, 'gpu-inference', { metadata: { name: 'gpu-inference' } });

app.synth();
