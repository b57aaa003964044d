// Trimmed Apache ECharts build for minipush: line and bar charts with grid,
// tooltip, legend and dataset, drawn on canvas (568 KB, 200 KB gzipped; the
// full build is about 1 MB). Rebuilt with:
//   npm install echarts@6.1.0 esbuild@0.25
//   npx esbuild echarts-entry.js --bundle --minify --format=iife \
//     --target=es2018 --legal-comments=none --outfile=echarts-6.1.0.min.js
import * as echarts from 'echarts/core';
import { LineChart, BarChart } from 'echarts/charts';
import { GridComponent, TooltipComponent, LegendComponent, TitleComponent, DatasetComponent } from 'echarts/components';
import { CanvasRenderer } from 'echarts/renderers';
echarts.use([LineChart, BarChart, GridComponent, TooltipComponent, LegendComponent, TitleComponent, DatasetComponent, CanvasRenderer]);
window.echarts = echarts;
